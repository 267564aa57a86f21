"""`tierstream score --compare` and `--report` through real files (streams/analytics/command.py)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml

from streams.analytics.migration import MATRIX_COLUMNS
from streams.cli.main import main
from streams.cli.score import OUTPUT_COLUMNS
from tests.unit.cdnow import PUBLISHED_MODEL

# Ten customers, one order each, worth 10 … 100.
TEN = "customer_id,order_id,occurred_at,amount\n" + "".join(
    f"c{n:02d},o{n},2026-01-10T10:00:00Z,{n * 10}\n" for n in range(1, 11)
)
# c10 (tier A) bought twice in January, then nothing: at risk by December, P(alive) < 1.
TEN_WITH_A_REPEAT = TEN + "c10,o11,2026-01-20T10:00:00Z,100\n"
# `old` buys before both as-of dates, `late` only between them.
TWO_DATES = """customer_id,order_id,occurred_at,amount
old,o1,2026-01-10T10:00:00Z,100
late,o2,2026-03-10T10:00:00Z,50
"""


def _write(tmp_path: Path, text: str, name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _wide_policy(tmp_path: Path) -> Path:
    """The default policy with A = top 30 %, B = next 30 %."""
    default = Path(__file__).resolve().parents[2] / "tiering" / "default_policy.yaml"
    policy = yaml.safe_load(default.read_text(encoding="utf-8"))
    policy["abc"] = {"a_cut": 0.3, "b_cut": 0.6}
    # The tiers are the tier list's conditions (the abc cuts only set abc_class).
    policy["tiers"][0]["when"] = {"top_share": 0.3}
    policy["tiers"][1]["when"] = {"top_share": 0.6}
    policy["version"] = "wide-1"
    return _write(tmp_path, yaml.safe_dump(policy), "wide.yaml")


def _cells(text: str) -> dict[tuple[str, str], tuple[int, str, str]]:
    """Non-empty matrix cells from the CSV: (from, to) → (customers, from/to revenue)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    return {
        (row["from_tier"], row["to_tier"]): (
            int(row["customers"]),
            row["from_revenue"],
            row["to_revenue"],
        )
        for row in rows
        if row["customers"] != "0"
    }


def test_compare_two_policies_writes_the_migration_matrix_to_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orders, out = _write(tmp_path, TEN), tmp_path / "matrix.csv"
    argv = ["score", str(orders), "--as-of", "2026-01-31", "--compare", "--out", str(out)]
    default = Path(__file__).resolve().parents[2] / "tiering" / "default_policy.yaml"
    code = main([*argv, "--policy", str(default), "--policy", str(_wide_policy(tmp_path))])
    assert code == 0
    assert out.read_text().splitlines()[0] == ",".join(MATRIX_COLUMNS)
    assert _cells(out.read_text()) == {
        ("A", "A"): (1, "100", "100"),
        ("B", "A"): (1, "90", "90"),
        ("C", "A"): (1, "80", "80"),
        ("C", "B"): (3, "180", "180"),
        ("C", "C"): (4, "100", "100"),
    }


def test_compare_two_dates_counts_a_customer_won_between_them_as_coming_from_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orders = _write(tmp_path, TWO_DATES)
    argv = ["score", str(orders), "--compare", "--as-of", "2026-01-31", "--as-of", "2026-03-31"]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0
    assert _cells(captured.out) == {("A", "A"): (1, "100", "100"), ("none", "C"): (1, "0", "50")}


def test_compare_prints_the_matrix_as_a_table_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orders = _write(tmp_path, TWO_DATES)
    main(["score", str(orders), "--compare", "--as-of", "2026-01-31", "--as-of", "2026-03-31"])
    err = capsys.readouterr().err
    assert "Migration as of 2026-01-31 → as of 2026-03-31: 0 up, 0 down, 1 unchanged" in err
    assert "none" in err


def test_two_as_of_dates_without_compare_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orders = _write(tmp_path, TWO_DATES)
    code = main(["score", str(orders), "--as-of", "2026-01-31", "--as-of", "2026-03-31"])
    assert code == 2
    assert "add --compare" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra",
    [
        ["--as-of", "2026-03-31"],
        ["--as-of", "2026-03-31", "--as-of", "2026-02-28", "--as-of", "2026-01-31"],
        ["--as-of", "2026-03-31", "--as-of", "2026-02-28", "--policy", "a", "--policy", "b"],
    ],
    ids=["one-scoring", "three-dates", "dates-and-policies"],
)
def test_compare_needs_exactly_two_policies_or_two_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    orders = _write(tmp_path, TWO_DATES)
    assert main(["score", str(orders), "--compare", *extra]) == 2
    assert "--compare needs two --policy or two --as-of" in capsys.readouterr().err


def test_report_without_compare_still_writes_the_scored_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orders, report = _write(tmp_path, TEN), tmp_path / "report.html"
    code = main(["score", str(orders), "--as-of", "2026-01-31", "--report", str(report)])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert code == 0
    assert (tuple(rows[0]), len(rows)) == (OUTPUT_COLUMNS, 10)
    assert "<h1>tierstream report</h1>" in report.read_text(encoding="utf-8")


def test_report_with_a_value_model_lists_p_alive_of_at_risk_customers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orders, report = _write(tmp_path, TEN_WITH_A_REPEAT), tmp_path / "report.html"
    model = _write(tmp_path, json.dumps({**PUBLISHED_MODEL, "time_unit": "day"}), "model.json")
    argv = ["score", str(orders), "--as-of", "2026-12-31", "--report", str(report)]
    assert main([*argv, "--clv-model", str(model), "--out", str(tmp_path / "s.csv")]) == 0
    html = report.read_text(encoding="utf-8")
    assert '<th class="n">P(alive)</th>' in html
    assert "or P(alive) below 0.5" in html
    assert "<td>c10</td>" in html


def test_report_failure_of_a_scoring_exits_with_its_code_and_writes_no_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.html"
    code = main(
        ["score", str(tmp_path / "absent.csv"), "--as-of", "2026-01-31", "--report", str(report)]
    )
    assert (code, report.exists()) == (2, False)


def test_compare_across_tier_lists_moves_customers_from_abc_to_the_value_layers(
    tmp_path: Path,
) -> None:
    """Both policies' tier names are states of the matrix (the first's, then the second's)."""
    with_margins = "customer_id,order_id,occurred_at,amount,margin\n" + "".join(
        f"c{n:02d},o{n},2026-01-10T10:00:00Z,{n * 10},{n * 5}\n" for n in range(1, 11)
    )
    orders, out = _write(tmp_path, with_margins), tmp_path / "matrix.csv"
    examples = Path(__file__).resolve().parents[2] / "examples" / "policies"
    argv = ["score", str(orders), "--as-of", "2026-01-31", "--compare", "--out", str(out)]
    policies = [
        "--policy",
        str(examples / "abc.yaml"),
        "--policy",
        str(examples / "value_layers.yaml"),
    ]
    assert main([*argv, *policies]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    states = ["A", "B", "C", "premium", "developing", "potential", "marginal", "none"]
    assert [(row["from_tier"], row["to_tier"]) for row in rows] == [
        (source, target) for source in states for target in states
    ]
    # Margins are half of each amount, so both policies rank alike: the top 10 % (c10) is
    # A, the next (c09) B; premium takes the top 15 % (c10, c09), developing the top half
    # (c08..c06), and the rest are new customers: potential.
    assert {cell: counts[0] for cell, counts in _cells(out.read_text()).items()} == {
        ("A", "premium"): 1,
        ("B", "premium"): 1,
        ("C", "developing"): 3,
        ("C", "potential"): 5,
    }
