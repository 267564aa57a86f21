"""The dashboard and the alert rules use exactly the metrics streams/metrics.py defines.

Names are read from the parsed PromQL (promql-parser), so a label or a function never passes
for a metric. Both directions hold: nothing the code does not export is queried, and every
metric the code exports is on the dashboard.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.monitoring.queries import (
    DASHBOARD_JSON,
    PROMETHEUS_BUILTIN_SERIES,
    RULES_YML,
    alert_rules,
    all_queries,
    dashboard_queries,
    exported_families,
    metric_names,
    with_bool_comparisons,
)

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "monitoring" / "grafana"


def _exported_series() -> set[str]:
    return set().union(*exported_families().values())


@pytest.mark.parametrize("query", all_queries(), ids=lambda query: query.source)
def test_every_query_selects_only_exported_metrics(query: object) -> None:
    names = metric_names(query.expr)  # type: ignore[attr-defined]  # parametrized Query
    assert names, "a query must select at least one series"
    unknown = names - _exported_series() - PROMETHEUS_BUILTIN_SERIES
    assert not unknown, f"not defined in streams/metrics.py: {sorted(unknown)}"


def test_every_exported_metric_is_on_the_dashboard() -> None:
    on_dashboard = set().union(*(metric_names(q.expr) for q in dashboard_queries()))
    missing = [
        family for family, series in exported_families().items() if not series & on_dashboard
    ]
    assert not missing, f"metrics with no dashboard panel: {missing}"


def test_a_misspelt_metric_is_caught() -> None:
    # The check above is only as good as the name extraction; prove it sees through labels,
    # functions and aggregation clauses to the one name that is wrong.
    expr = 'sum by (topic) (rate(tierstream_event_consumed_total{outcome="applied"}[5m]))'
    assert metric_names(expr) - _exported_series() == {"tierstream_event_consumed_total"}


def test_every_alert_has_a_severity_a_summary_and_a_one_line_runbook() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= {
        "TierstreamWorkerDown",
        "TierstreamConsumerLagGrowing",
        "TierstreamDeadLettersHigh",
        "TierstreamNoEventsConsumed",
        "TierstreamAlertDeliveryFailing",
    }
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"].strip(), rule["alert"]
        runbook = annotations["runbook"]
        assert runbook.strip() and "\n" not in runbook.strip(), rule["alert"]
        assert "for" in rule, f"{rule['alert']} would page on a single bad evaluation"


def test_bool_rewrite_keeps_every_series_of_an_alert() -> None:
    assert with_bool_comparisons("up == 0") == "(up{}) == bool (0)"
    rewritten = with_bool_comparisons("a > 1 and on (topic) b > 0")
    assert rewritten.count("bool") == 2 and "on (topic)" in rewritten


def test_dashboard_picks_its_datasource_through_a_variable() -> None:
    dashboard = json.loads(DASHBOARD_JSON.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_dashboard_panel_ids_are_unique_and_the_uid_is_stable() -> None:
    dashboard = json.loads(DASHBOARD_JSON.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] == "tierstream-overview"


def _readme_section(heading: str) -> str:
    readme = (REPO / "README.md").read_text()
    match = re.search(rf"^#### {re.escape(heading)}\n(.*?)(?=^#)", readme, re.M | re.S)
    assert match, f"README.md has no '#### {heading}' section"
    return match.group(1)


def test_readme_lists_exactly_the_dashboard_panels() -> None:
    listed = set(re.findall(r"^- \*\*(.+?)\*\*", _readme_section("Dashboard panels"), re.M))
    dashboard = json.loads(DASHBOARD_JSON.read_text())
    titles = {panel["title"] for panel in dashboard["panels"] if panel["type"] != "row"}
    assert listed == titles


def test_readme_lists_exactly_the_alert_rules() -> None:
    listed = set(re.findall(r"^- `(\w+)`", _readme_section("Alert rules"), re.M))
    assert listed == {rule["alert"] for rule in alert_rules()}


def test_readme_lists_exactly_the_metrics() -> None:
    listed = set(re.findall(r"^- `(tierstream_\w+)`", _readme_section("Metrics"), re.M))
    # As PromQL names them: counters with `_total`, gauges and histograms by family name.
    exported = {
        f"{family}_total" if f"{family}_total" in series else family
        for family, series in exported_families().items()
    }
    assert listed == exported


def test_grafana_provisioning_points_at_the_compose_prometheus_and_dashboard_mount() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/tierstream.yml").read_text())
    (provider,) = providers["providers"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./monitoring/grafana/dashboards:{provider['options']['path']}:ro" in mounts


def test_rules_file_is_what_prometheus_yml_loads() -> None:
    config = yaml.safe_load((RULES_YML.parent / "prometheus.yml").read_text())
    assert config["rule_files"] == [RULES_YML.name]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    selected = set(re.findall(r'job="([^"]+)"', RULES_YML.read_text()))
    assert selected <= jobs
