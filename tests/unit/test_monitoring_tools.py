"""Prometheus's own promtool accepts the scrape config and the rules, and every alert fires in
its unit tests (tests/monitoring/rules_test.yml). promtool comes from Debian's `prometheus`
package; `scripts/prometheus ensure` installs it when missing (scripts/test runs it first)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "monitoring" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    if shutil.which("promtool") is None:
        subprocess.run([str(REPO / "scripts" / "prometheus"), "ensure"], check=True, timeout=900)
    path = shutil.which("promtool")
    assert path, "scripts/prometheus ensure did not provide promtool"
    return path


def _promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_accepts_the_scrape_config_and_the_rules_it_loads(promtool: str) -> None:
    result = _promtool(promtool, "check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


def test_promtool_accepts_the_rules(promtool: str) -> None:
    result = _promtool(promtool, "check", "rules", str(PROMETHEUS_DIR / "rules.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_on_its_scenario_and_not_on_a_healthy_one(promtool: str) -> None:
    result = _promtool(promtool, "test", "rules", "tests/monitoring/rules_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    # The checks above can fail: an unparsable expression is refused.
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: sum by (topic (up)\n")
    assert _promtool(promtool, "check", "rules", str(broken)).returncode != 0


def test_every_alert_is_covered_by_a_promtool_unit_test() -> None:
    import yaml

    rules = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tests = yaml.safe_load((REPO / "tests" / "monitoring" / "rules_test.yml").read_text())
    fired = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert fired == alerts
