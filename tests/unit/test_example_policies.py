"""The policies in examples/policies/ through the real `tierstream score` path, and
`score --profiles` (bad rows by line, the profile columns, rank_within)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from streams.cli.main import main
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
AS_OF = "2026-06-15"
LAYERS = ("premium", "developing", "potential", "marginal")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("history")
    generated = generate_history(2_000, 20_000, seed=5)
    return (
        write_csv(directory / "orders.csv", ORDER_HEADER, generated.orders),
        write_csv(directory / "feedback.csv", FEEDBACK_HEADER, generated.feedback),
    )


def _score(history: tuple[Path, Path], out: Path, *extra: str) -> list[dict[str, str]]:
    orders, feedback = history
    argv = ["score", str(orders), "--feedback", str(feedback), "--as-of", AS_OF]
    assert main([*argv, "--out", str(out), *extra]) == 0
    with out.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def layered(
    history: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, str]]:
    out = tmp_path_factory.mktemp("layers") / "scored.csv"
    return _score(history, out, "--policy", str(EXAMPLES / "value_layers.yaml"))


def test_the_abc_example_scores_exactly_like_the_built_in_default(
    history: tuple[Path, Path], tmp_path: Path
) -> None:
    built_in = _score(history, tmp_path / "default.csv")
    example = _score(history, tmp_path / "abc.csv", "--policy", str(EXAMPLES / "abc.yaml"))
    assert {row["tier"] for row in example} == {"A", "B", "C"}
    assert example == built_in


def test_every_customer_gets_one_of_the_four_layers_and_each_layer_has_customers(
    layered: list[dict[str, str]],
) -> None:
    assert len(layered) > 1_500
    assert {row["tier"] for row in layered} == set(LAYERS)


def test_premium_customers_are_the_top_margin_share(layered: list[dict[str, str]]) -> None:
    """p < 0.15: every premium customer has more margin than any other, and the lowest has
    fewer than 15 % of the active customers above it, the highest other at least 15 %."""
    active = [row for row in layered if row["frequency"] != "0"]
    premium = [Decimal(row["monetary"]) for row in active if row["tier"] == "premium"]
    others = [Decimal(row["monetary"]) for row in active if row["tier"] != "premium"]
    assert min(premium) > max(others)
    assert (len(premium) - 1) / len(active) < 0.15 <= len(premium) / len(active)


def test_developing_customers_are_in_the_upper_half_and_not_at_risk(
    layered: list[dict[str, str]],
) -> None:
    developing = [row for row in layered if row["tier"] == "developing"]
    assert {row["risk"] for row in developing} == {"ok"}
    assert {row["abc_class"] for row in developing} == {"B"}  # abc cuts 0.15/0.50


def test_potential_customers_are_new_growing_or_rising_stars(
    layered: list[dict[str, str]],
) -> None:
    potential = [row for row in layered if row["tier"] == "potential"]
    assert all(
        row["lifecycle"] in ("new", "growth") or row["rising_star"] == "true" for row in potential
    )
    assert any(row["rising_star"] == "true" for row in potential)


def test_inactive_customers_are_marginal(layered: list[dict[str, str]]) -> None:
    inactive = [row for row in layered if row["frequency"] == "0"]
    assert inactive
    assert {row["tier"] for row in inactive} == {"marginal"}


def _profiles(path: Path, history: tuple[Path, Path]) -> Path:
    """A region for every customer of the history (two regions), and three unusable rows."""
    seen: set[str] = set()
    for events in history:
        with events.open(newline="") as handle:
            seen |= {row["customer_id"] for row in csv.DictReader(handle)}
    ids = sorted(c for c in seen if c.strip())
    lines = ["customer_id,industry,size,region"]
    lines += [f"{c},retail,,{'emea' if i % 2 else 'amer'}" for i, c in enumerate(ids)]
    lines += [",retail,smb,emea", f"{ids[0]},retail,smb,apac", f"x,{'i' * 201},smb,emea"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_profiles_add_their_columns_and_report_bad_rows_by_line(
    history: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profiles = _profiles(tmp_path / "customers.csv", history)
    last = len(profiles.read_text().splitlines())
    rows = _score(history, tmp_path / "out.csv", "--profiles", str(profiles))
    err = capsys.readouterr().err
    assert list(rows[0])[-4:] == ["rising_star", "industry", "size", "region"]
    assert {(row["industry"], row["size"]) for row in rows} == {("retail", "")}
    assert f"{profiles}: skipped 3 of {last - 1} rows" in err
    assert f"line {last - 2}: missing customer_id" in err
    assert f"line {last - 1}: repeated customer_id (its first row counts)" in err
    assert f"line {last}: industry longer than 200 characters" in err


def test_ranking_within_region_takes_the_top_share_of_each_region(
    history: tuple[Path, Path], tmp_path: Path
) -> None:
    profiles = _profiles(tmp_path / "customers.csv", history)
    text = (EXAMPLES / "value_layers.yaml").read_text()
    policy = tmp_path / "regional.yaml"
    policy.write_text(text.replace("basis: margin", "basis: margin\nrank_within: region"))
    rows = _score(
        history, tmp_path / "out.csv", "--policy", str(policy), "--profiles", str(profiles)
    )
    for region in ("emea", "amer"):
        active = [r for r in rows if r["region"] == region and r["frequency"] != "0"]
        premium = [Decimal(r["monetary"]) for r in active if r["tier"] == "premium"]
        others = [Decimal(r["monetary"]) for r in active if r["tier"] != "premium"]
        assert min(premium) > max(others)
        assert (len(premium) - 1) / len(active) < 0.15 <= len(premium) / len(active)


def test_a_policy_reading_profiles_without_profiles_is_warned_about(
    history: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "regional.yaml"
    policy.write_text(
        (EXAMPLES / "abc.yaml")
        .read_text()
        .replace("basis: revenue", "basis: revenue\nrank_within: region")
    )
    _score(history, tmp_path / "out.csv", "--policy", str(policy))
    assert "without --profiles every customer's are unknown" in capsys.readouterr().err
