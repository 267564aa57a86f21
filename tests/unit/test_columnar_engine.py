"""The columnar engine (`streams.batch`) equals the fold (`tiering.score_history`) on every
customer and every output cell, on generated messy histories and small random ones."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.batch import score_files
from streams.cli.score import parse_as_of
from streams.data.csv_input import CsvReport, read_profiles
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from tests.unit.cdnow import PUBLISHED_MODEL
from tests.unit.fold_reference import fold_rows
from tiering import Basis, Policy, default_policy, load_policy
from tiering.policy import Dimension
from tiering.value import parse_model

AS_OF = parse_as_of("2026-06-15")
REVENUE = default_policy()
MARGIN = REVENUE.model_copy(update={"basis": Basis.MARGIN})
LAYERS = load_policy(Path(__file__).parents[2] / "examples" / "policies" / "value_layers.yaml")
DAY_MODEL = json.dumps({**PUBLISHED_MODEL, "time_unit": "day"})


def columnar_rows(
    orders: Path,
    feedback: Path | None,
    policy: Policy,
    as_of: datetime,
    model: Path | None,
    profiles: Path | None = None,
) -> list[list[str]]:
    """The engine's frame printed as the score CSV prints it."""
    scored = score_files(
        orders,
        as_of,
        feedback=feedback,
        policy=policy,
        value_model=None if model is None else parse_model(model.read_text()),
        profiles=profiles,
    )
    return [
        ["" if cell is None else str(cell) for cell in row] for row in scored.customers.iter_rows()
    ]


def first_differences(ours: list[list[str]], theirs: list[list[str]]) -> list[object]:
    """Up to five differing rows, side by side (empty when equal)."""
    if [row[0] for row in ours] != [row[0] for row in theirs]:
        return ["customer lists differ", len(ours), len(theirs)]
    return [(a, b) for a, b in zip(ours, theirs, strict=True) if a != b][:5]


@pytest.fixture(scope="module")
def messy_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    directory = tmp_path_factory.mktemp("messy")
    history = generate_history(4_000, 40_000, seed=23)
    orders = write_csv(directory / "orders.csv", ORDER_HEADER, history.orders)
    feedback = write_csv(directory / "feedback.csv", FEEDBACK_HEADER, history.feedback)
    model = directory / "model.json"
    model.write_text(DAY_MODEL)
    return orders, feedback, model


@pytest.mark.parametrize(
    "policy", [REVENUE, MARGIN, LAYERS], ids=["revenue", "margin", "value-layers"]
)
def test_every_cell_of_every_customer_of_a_messy_history_equals_the_fold(
    policy: Policy, messy_files: tuple[Path, Path, Path]
) -> None:
    orders, feedback, model = messy_files
    ours = columnar_rows(orders, feedback, policy, AS_OF, model)
    theirs = fold_rows(orders, feedback, policy, AS_OF, model)
    assert len(ours) > 3_000
    assert first_differences(ours, theirs) == []


def test_the_value_layers_without_a_value_model_equal_the_fold_growth_projection(
    messy_files: tuple[Path, Path, Path],
) -> None:
    """Rising stars (and so `potential`) by second_half x window / half_split."""
    orders, feedback, _ = messy_files
    ours = columnar_rows(orders, feedback, LAYERS, AS_OF, None)
    theirs = fold_rows(orders, feedback, LAYERS, AS_OF)
    assert {row[12] for row in ours} == {"true", "false"}
    assert first_differences(ours, theirs) == []


@pytest.fixture(scope="module")
def profiles_file(
    tmp_path_factory: pytest.TempPathFactory, messy_files: tuple[Path, Path, Path]
) -> Path:
    """Regions and sizes for most customers of the messy history; some have none, some
    have no row, and two rows are unusable (a missing id, a repeated one)."""
    orders, _, _ = messy_files
    ids = sorted({line.split(",")[0] for line in orders.read_text().splitlines()[1:]})
    lines = ["customer_id,industry,size,region"]
    regions = ["emea", "amer", "apac", ""]
    for index, customer in enumerate(ids):
        if index % 11 == 0 or not customer.strip():
            continue  # no profile row
        lines.append(f"{customer},retail,{'smb' if index % 3 else ''},{regions[index % 4]}")
    lines += [",retail,smb,emea", f"{ids[-1]},retail,smb,amer"]
    path = tmp_path_factory.mktemp("profiles") / "customers.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("dimension", ["region", "size"])
def test_ranks_within_a_profile_dimension_equal_the_fold_with_profiles(
    dimension: Dimension, messy_files: tuple[Path, Path, Path], profiles_file: Path
) -> None:
    orders, feedback, _ = messy_files
    policy = LAYERS.model_copy(update={"rank_within": dimension})
    profiles = read_profiles(profiles_file, CsvReport(profiles_file))
    ours = columnar_rows(orders, feedback, policy, AS_OF, None, profiles_file)
    theirs = fold_rows(orders, feedback, policy, AS_OF, profiles=profiles)
    assert first_differences(ours, theirs) == []


def test_ranking_within_regions_changes_tiers_so_the_comparison_can_fail(
    messy_files: tuple[Path, Path, Path], profiles_file: Path
) -> None:
    orders, feedback, _ = messy_files
    regional = LAYERS.model_copy(update={"rank_within": "region"})
    within = columnar_rows(orders, feedback, regional, AS_OF, None, profiles_file)
    overall = columnar_rows(orders, feedback, LAYERS, AS_OF, None, profiles_file)
    assert sum(a[1] != b[1] for a, b in zip(within, overall, strict=True)) > 10


def test_a_messy_history_scored_long_after_its_end_equals_the_fold(
    messy_files: tuple[Path, Path, Path],
) -> None:
    """Late as_of: most customers churned, windows nearly empty."""
    orders, feedback, _ = messy_files
    as_of = datetime(2027, 3, 1, tzinfo=UTC)
    ours = columnar_rows(orders, feedback, REVENUE, as_of, None)
    assert first_differences(ours, fold_rows(orders, feedback, REVENUE, as_of)) == []


_ZONES = ["Z", "+00:00", "+02:00", "-05:30", "", "date"]


@st.composite
def _instant_text(draw: st.DrawFn) -> str:
    """A time up to 800 days before AS_OF or a little after, in one of the accepted forms."""
    instant = AS_OF - timedelta(
        days=draw(st.integers(min_value=-20, max_value=500)),
        seconds=draw(st.integers(min_value=0, max_value=86_399)),
    )
    zone = draw(st.sampled_from(_ZONES))
    if zone == "date":
        return instant.date().isoformat()
    if zone in ("+02:00", "-05:30"):
        hours, minutes = int(zone[1:3]), int(zone[4:])
        sign = 1 if zone[0] == "+" else -1
        instant = instant.astimezone(timezone(sign * timedelta(hours=hours, minutes=minutes)))
    text = instant.replace(tzinfo=None).isoformat(timespec="seconds")
    return text + (zone if zone != "" else "")


_good_amounts = st.one_of(
    st.integers(min_value=0, max_value=500).map(str),
    st.tuples(st.integers(0, 500), st.integers(0, 999)).map(lambda p: f"{p[0]}.{p[1]:03d}"),
    st.tuples(st.integers(0, 500), st.integers(0, 99)).map(lambda p: f"{p[0]}.{p[1]:02d}"),
)
# Mostly usable values (so that customers have several rows to deduplicate and rank), now and
# then one in an unusual spelling or an unusable one.
_amounts = st.one_of(
    _good_amounts, _good_amounts, _good_amounts, st.sampled_from(["+7", " 12.5 ", "-3", "abc", ""])
)


@st.composite
def _order_row(draw: st.DrawFn) -> dict[str, str]:
    return {
        "customer_id": draw(st.sampled_from(["c1", "c1", "c2", " c3 ", ""])),
        "order_id": draw(st.sampled_from(["o1", "o2", "o3", "o4"])),
        "occurred_at": draw(st.one_of(_instant_text(), _instant_text(), st.just("not-a-time"))),
        "amount": draw(_amounts),
        "kind": draw(st.sampled_from(["purchase"] * 4 + ["", "refund", "cancel", "gift"])),
        "margin": draw(st.one_of(st.just(""), _amounts)),
        "currency": draw(st.sampled_from(["EUR"] * 6 + ["", "eur"])),
    }


@st.composite
def _feedback_row(draw: st.DrawFn) -> dict[str, str]:
    return {
        "customer_id": draw(st.sampled_from(["c1", "c2", "c6"])),
        "occurred_at": draw(_instant_text()),
        "kind": draw(st.sampled_from(["csat", "nps", "complaint", "praise", "other"])),
        "score": draw(st.sampled_from(["", "1", "2", "3", "5", "9", "11"])),
    }


@settings(max_examples=80, deadline=None)
@given(
    orders=st.lists(_order_row(), min_size=1, max_size=40),
    feedback=st.lists(_feedback_row(), max_size=8),
    policy=st.sampled_from([REVENUE, MARGIN, LAYERS]),
    with_model=st.booleans(),
)
def test_small_random_histories_score_the_same_as_the_fold(
    orders: list[dict[str, str]],
    feedback: list[dict[str, str]],
    policy: Policy,
    with_model: bool,
) -> None:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        orders_path = write_csv(directory / "orders.csv", ORDER_HEADER, orders)
        feedback_path = write_csv(directory / "feedback.csv", FEEDBACK_HEADER, feedback)
        model = directory / "model.json" if with_model else None
        if model is not None:
            model.write_text(DAY_MODEL)
        ours = columnar_rows(orders_path, feedback_path, policy, AS_OF, model)
        theirs = fold_rows(orders_path, feedback_path, policy, AS_OF, model)
    assert first_differences(ours, theirs) == []


_REGION = st.sampled_from(["", "emea", "amer"])


@settings(max_examples=40, deadline=None)
@given(
    orders=st.lists(_order_row(), min_size=1, max_size=40),
    regions=st.fixed_dictionaries({"c1": _REGION, "c2": _REGION, "c6": _REGION}),
    dimension=st.sampled_from(["region", "size"]),
    with_model=st.booleans(),
)
def test_small_random_histories_ranked_within_a_dimension_score_the_same_as_the_fold(
    orders: list[dict[str, str]], regions: dict[str, str], dimension: Dimension, with_model: bool
) -> None:
    """c3 has no profile row; an empty region is an unknown one (its own group with c3)."""
    policy = LAYERS.model_copy(update={"rank_within": dimension})
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        orders_path = write_csv(directory / "orders.csv", ORDER_HEADER, orders)
        profiles_path = directory / "customers.csv"
        profiles_path.write_text(
            "customer_id,industry,size,region\n"
            + "".join(f"{c},,{'smb' if r else ''},{r}\n" for c, r in regions.items())
        )
        model = directory / "model.json" if with_model else None
        if model is not None:
            model.write_text(DAY_MODEL)
        profiles = read_profiles(profiles_path, CsvReport(profiles_path))
        ours = columnar_rows(orders_path, None, policy, AS_OF, model, profiles_path)
        theirs = fold_rows(orders_path, None, policy, AS_OF, model, profiles)
    assert first_differences(ours, theirs) == []


def _score_both(tmp_path: Path, orders: str) -> tuple[list[list[str]], list[list[str]]]:
    path = tmp_path / "orders.csv"
    path.write_text(orders)
    return (
        columnar_rows(path, None, REVENUE, AS_OF, None),
        fold_rows(path, None, REVENUE, AS_OF),
    )


def test_a_repeated_order_id_counts_its_earliest_row_as_the_fold_does(tmp_path: Path) -> None:
    ours, theirs = _score_both(
        tmp_path,
        "customer_id,order_id,occurred_at,amount\n"
        "c1,o1,2026-05-02T10:00:00Z,30\n"
        "c1,o1,2026-05-01T10:00:00Z,20.5\n"
        "c1,o2,2026-04-01T10:00:00Z,7\n",
    )
    assert (ours, ours[0][10:12]) == (theirs, ["2", "27.5"])


def test_an_order_id_the_fold_has_forgotten_counts_again_as_in_the_fold(tmp_path: Path) -> None:
    """The fold forgets o1 once a later event (o9) puts it a window behind: o1 counts twice."""
    ours, theirs = _score_both(
        tmp_path,
        "customer_id,order_id,occurred_at,amount\n"
        "c1,o1,2024-01-10T10:00:00Z,30\n"
        "c1,o9,2025-06-01T10:00:00Z,5\n"
        "c1,o1,2026-05-01T10:00:00Z,20\n",
    )
    assert (ours, ours[0][10:12]) == (theirs, ["1", "20"])


def test_an_order_id_repeated_before_the_fold_forgets_it_counts_once_as_in_the_fold(
    tmp_path: Path,
) -> None:
    """No event in between moves the fold's high water, so it still holds o1: a duplicate."""
    ours, theirs = _score_both(
        tmp_path,
        "customer_id,order_id,occurred_at,amount\n"
        "c1,o1,2024-01-10T10:00:00Z,30\n"
        "c1,o1,2026-05-01T10:00:00Z,20\n",
    )
    assert (ours, ours[0][10:12]) == (theirs, ["0", "0"])
