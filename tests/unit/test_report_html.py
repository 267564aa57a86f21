"""The report's figures and HTML (streams/analytics/figures.py, report.py) on small known data."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from streams.analytics import figures
from streams.analytics.migration import migrate
from streams.analytics.report import ReportInput, render_report
from streams.analytics.scored import ScoredCustomer, Scoring

LABELS = {"A": "core", "B": "important", "C": "general"}


def _customer(customer_id: str, tier: str, monetary: str, **fields: Any) -> ScoredCustomer:
    values: dict[str, Any] = {
        "r_score": 3,
        "f_score": 3,
        "m_score": 3,
        "rfm_segment": "loyal",
        "lifecycle": "mature",
        "risk": "ok",
        "recency_days": 10,
        "frequency": 2,
        "p_alive": None,
        "predicted_clv": None,
        "rising_star": None,
    }
    values.update(fields)
    return ScoredCustomer(
        customer_id=customer_id, tier=str(tier), monetary=Decimal(monetary), **values
    )


# Revenue 60 + 25 + 10 + 5 + 0 = 100: A brings 60 %, B 25 %, C 15 %.
CUSTOMERS = (
    _customer("top", "A", "60", risk="at_risk"),
    _customer("second", "B", "25"),
    _customer("third", "C", "10", risk="at_risk"),
    _customer("fourth", "C", "5"),
    _customer(
        "gone", "C", "0", r_score=None, f_score=None, m_score=None, rfm_segment=None, risk="churned"
    ),
)


def _scoring(customers: tuple[ScoredCustomer, ...] = CUSTOMERS, **flags: bool) -> Scoring:
    return Scoring(customers, flags.get("value", False), flags.get("rising", False))


def test_tier_rows_give_customer_and_revenue_shares() -> None:
    rows = figures.tier_rows(CUSTOMERS, LABELS)
    assert [(row.tier, row.customers, row.revenue) for row in rows] == [
        ("A", 1, Decimal(60)),
        ("B", 1, Decimal(25)),
        ("C", 3, Decimal(15)),
    ]
    assert [row.revenue_share for row in rows] == pytest.approx([0.60, 0.25, 0.15])
    assert [row.customer_share for row in rows] == pytest.approx([0.2, 0.2, 0.6])


def test_lorenz_curve_accumulates_revenue_largest_customer_first_with_tier_cuts() -> None:
    curve = figures.lorenz_curve(CUSTOMERS)
    assert curve is not None
    assert curve.customer_share == pytest.approx((0, 0.2, 0.4, 0.6, 0.8, 1.0))
    assert curve.revenue_share == pytest.approx((0, 0.60, 0.85, 0.95, 1.0, 1.0))
    assert [(tier, round(x, 6), round(y, 6)) for tier, x, y in curve.cuts] == [
        ("A", 0.2, 0.6),
        ("B", 0.4, 0.85),
    ]


def test_lorenz_curve_keeps_at_most_the_requested_points_and_both_ends() -> None:
    many = tuple(_customer(f"c{index}", "C", str(index)) for index in range(1, 5001))
    curve = figures.lorenz_curve(many, max_points=1000)
    assert curve is not None
    assert len(curve.customer_share) <= 1001
    assert (curve.customer_share[0], curve.revenue_share[0]) == (0, 0)
    assert (curve.customer_share[-1], curve.revenue_share[-1]) == pytest.approx((1, 1))


def test_lorenz_curve_is_absent_without_revenue() -> None:
    assert figures.lorenz_curve((_customer("free", "C", "0"),)) is None


def test_at_risk_high_value_takes_tier_a_or_b_with_risk_or_low_p_alive_by_revenue() -> None:
    customers = (
        _customer("a-risk", "A", "50", risk="at_risk"),
        _customer("b-churned", "B", "20", risk="churned"),
        _customer("b-fading", "B", "30", p_alive=0.3),
        _customer("a-alive", "A", "90", p_alive=0.9),
        _customer("c-risk", "C", "80", risk="at_risk"),
    )
    chosen = figures.at_risk_high_value(customers)
    assert [customer.customer_id for customer in chosen] == ["a-risk", "b-fading", "b-churned"]


def test_rising_stars_are_the_flagged_customers_by_predicted_clv() -> None:
    customers = (
        _customer("flat", "B", "50", rising_star=False, predicted_clv=900.0),
        _customer("small", "C", "10", rising_star=True, predicted_clv=100.0),
        _customer("big", "C", "5", rising_star=True, predicted_clv=400.0),
    )
    assert [c.customer_id for c in figures.rising_stars(customers)] == ["big", "small"]


def test_rfm_grid_counts_scored_customers_by_r_and_f_with_the_commonest_segment() -> None:
    customers = (
        _customer("x", "C", "1", r_score=5, f_score=1, rfm_segment="new"),
        _customer("y", "C", "1", r_score=5, f_score=1, rfm_segment="new"),
        _customer("z", "C", "1", r_score=5, f_score=1, rfm_segment="promising"),
        _customer("idle", "C", "0", r_score=None, f_score=None, rfm_segment=None),
    )
    assert figures.rfm_grid(customers) == {(5, 1): figures.GridCell(3, "new")}


HOSTILE_ID = '<script>alert("x")</script>&'


def test_report_escapes_customer_ids() -> None:
    customers = (_customer(HOSTILE_ID, "A", "70", risk="at_risk"), *CUSTOMERS[1:])
    html = render_report(ReportInput(_scoring(customers), LABELS, [("as of", "2026-06-30")]))
    assert HOSTILE_ID not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;" in html


def test_report_loads_nothing_and_runs_no_script() -> None:
    html = render_report(ReportInput(_scoring(), LABELS, [("as of", "2026-06-30")]))
    assert "<script" not in html
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!#)""", html)
    assert "@import" not in html and "<link" not in html


def test_report_shows_every_chart_and_the_migration_when_comparing() -> None:
    earlier = tuple(_customer(c.customer_id, "C", "1") for c in CUSTOMERS)
    matrix = migrate(earlier, CUSTOMERS, "as of 2026-03-31", "as of 2026-06-30")
    html = render_report(ReportInput(_scoring(), LABELS, [], matrix))
    for chart in ("tiers", "lorenz", "rfm", "counts", "migration"):
        assert f'id="chart-{chart}"><svg' in html
    assert "2 up, 0 down, 3 unchanged" in " ".join(html.split())


def test_chart_ids_are_unique_in_the_document() -> None:
    matrix = migrate(CUSTOMERS, CUSTOMERS)
    ids = re.findall(r'\sid="([^"]+)"', render_report(ReportInput(_scoring(), LABELS, [], matrix)))
    duplicates = sorted({name for name in ids if ids.count(name) > 1})
    assert duplicates == []


def test_report_says_rising_stars_are_unavailable_without_the_column() -> None:
    html = render_report(ReportInput(_scoring(), LABELS, []))
    assert "no <code>rising_star</code> column yet" in html


def test_report_lists_rising_stars_when_the_column_exists() -> None:
    customers = (*CUSTOMERS, _customer("star-1", "C", "3", rising_star=True, predicted_clv=500.0))
    html = render_report(ReportInput(_scoring(customers, value=True, rising=True), LABELS, []))
    assert "no <code>rising_star</code> column" not in html
    assert "<td>star-1</td>" in html


def test_policy_label_with_markup_and_dollar_is_shown_as_text() -> None:
    labels = {**LABELS, "A": "<b>$ key</b>"}
    html = render_report(ReportInput(_scoring(), labels, []))
    assert "<td>&lt;b&gt;$ key&lt;/b&gt;</td>" in html


def test_report_of_no_customers_says_there_is_no_curve_or_grid() -> None:
    html = render_report(ReportInput(_scoring(()), LABELS, []))
    assert "No revenue in this scoring: no curve to draw." in html
    assert "No active customer: no RFM scores." in html


def test_same_scoring_renders_the_same_report() -> None:
    """Deterministic output (fixed SVG hash salt, no dates) lets reports be diffed."""
    report = ReportInput(_scoring(), LABELS, [("as of", "2026-06-30")])
    assert render_report(report) == render_report(report)
