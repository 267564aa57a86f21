"""Every PromQL expression the project ships, and the metric names streams/metrics.py exports.

Shared by the consistency test (names only, no server) and the end-to-end test (each query
sent to a real Prometheus). Expressions are parsed with `promql-parser` (the Rust PromQL
parser's Python bindings), not with a regex, so label names and functions never pass for
metric names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml
from prometheus_client import CollectorRegistry

from streams.metrics import NotifierMetrics, WorkerMetrics

__all__ = [
    "DASHBOARD_JSON",
    "PROMETHEUS_BUILTIN_SERIES",
    "RULES_YML",
    "Query",
    "alert_rules",
    "all_queries",
    "dashboard_queries",
    "exported_families",
    "metric_names",
    "rule_queries",
    "with_bool_comparisons",
]

REPO = Path(__file__).resolve().parents[2]
RULES_YML = REPO / "monitoring" / "prometheus" / "rules.yml"
DASHBOARD_JSON = REPO / "monitoring" / "grafana" / "dashboards" / "tierstream.json"

# Series Prometheus makes itself for every scrape target; not ours to define.
PROMETHEUS_BUILTIN_SERIES = frozenset({"up"})

# Grafana expands $__rate_interval to max(4 × scrape interval, step + scrape interval); a fixed
# window in its place keeps the expression valid PromQL for the parser and for Prometheus.
RATE_INTERVAL = "$__rate_interval"
# Grafana puts the dashboard's time range (e.g. `21600s` for the last 6 h) for $__range, what
# an instant panel (a total over the range) asks for; a fixed window stands in for it too.
RANGE = "$__range"

_COMPARISONS = frozenset({">", "<", ">=", "<=", "==", "!="})


@dataclass(frozen=True)
class Query:
    """One expression and where it comes from (panel title or alert name), for messages."""

    source: str
    expr: str


def dashboard_queries(rate_interval: str = "5m", range_: str = "1h") -> list[Query]:
    """Every target expression of every panel of the dashboard, `$__rate_interval` and
    `$__range` filled in."""
    dashboard = _load_json(DASHBOARD_JSON)
    queries = []
    for panel in _panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            expr = target["expr"].replace(RATE_INTERVAL, rate_interval).replace(RANGE, range_)
            queries.append(Query(f"panel {panel['title']!r} {target['refId']}", expr))
    return queries


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Collapsed rows keep their panels inside the row.
    found = []
    for panel in panels:
        found.append(panel)
        found.extend(_panels(panel.get("panels", [])))
    return found


def _load_json(path: Path) -> dict[str, Any]:
    import json

    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def alert_rules(path: Path = RULES_YML) -> list[dict[str, Any]]:
    """Every rule of every group of a Prometheus rules file."""
    loaded = yaml.safe_load(path.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def rule_queries(path: Path = RULES_YML) -> list[Query]:
    """The expression of every alerting and recording rule."""
    return [
        Query(f"rule {rule.get('alert') or rule.get('record')}", rule["expr"])
        for rule in alert_rules(path)
    ]


def all_queries() -> list[Query]:
    """Dashboard targets, then rules."""
    return [*dashboard_queries(), *rule_queries()]


def metric_names(expr: str) -> set[str]:
    """Names of the series an expression selects (its vector and matrix selectors)."""
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name is None:
                raise ValueError(f"selector without a metric name in {expr!r}")
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def with_bool_comparisons(expr: str) -> str:
    """The expression with every filtering comparison turned into a `bool` one.

    `x > 1000` keeps only the series above the threshold, so on healthy data an alert's
    expression rightly returns nothing; `x > bool 1000` returns 0 or 1 for every series, so
    a query that returns nothing then means a missing or misnamed series, not a calm system.
    """

    def visit(node: object) -> object | None:
        if isinstance(node, promql_parser.BinaryExpr) and str(node.op) in _COMPARISONS:
            modifier = node.modifier
            if modifier is not None and modifier.return_bool:
                return None
            matching = _matching_clause(node)
            return promql_parser.parse(f"({node.lhs}) {node.op} bool {matching}({node.rhs})")
        return None

    return str(promql_parser.transform(promql_parser.parse(expr), post_visit=visit))


def _matching_clause(node: Any) -> str:
    # Keep on()/ignoring() and group_left/right of a vector-to-vector comparison.
    if node.modifier is None:
        return ""
    text = str(node)
    lhs, rhs = str(node.lhs), str(node.rhs)
    middle = text[len(lhs) : len(text) - len(rhs)].strip()
    return middle.removeprefix(str(node.op)).strip() + " "


def exported_families() -> dict[str, set[str]]:
    """Each metric family of WorkerMetrics and NotifierMetrics and the series names it exports.

    A counter `x_total` exports `x_total` (and `x_created`); a histogram `x` exports
    `x_bucket`, `x_sum`, `x_count`; a gauge exports its own name.
    """
    registry = CollectorRegistry()
    WorkerMetrics.create(registry)
    NotifierMetrics.create(registry)
    families: dict[str, set[str]] = {}
    for family in registry.collect():
        if family.type == "counter":
            families[family.name] = {f"{family.name}_total", f"{family.name}_created"}
        elif family.type == "histogram":
            suffixes = ("_bucket", "_sum", "_count", "_created")
            families[family.name] = {family.name + suffix for suffix in suffixes}
        else:
            families[family.name] = {family.name}
    return families
