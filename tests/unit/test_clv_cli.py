"""`tierstream clv fit` and `tierstream score --clv-model` through real files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from streams.cli.main import main
from streams.cli.score import OUTPUT_COLUMNS
from streams.cli.score_clv import CLV_COLUMNS
from tests.unit.cdnow import PUBLISHED_MODEL, write_orders_csv
from tiering.value import TimeUnit, ValueModel, load_model

SMALL = """customer_id,order_id,occurred_at,amount,kind
a,o1,2026-01-02T10:00:00Z,10,purchase
a,o2,2026-01-09T10:00:00Z,20,purchase
a,o3,2026-01-20T10:00:00Z,30,purchase
b,o4,2026-01-05T10:00:00Z,15,purchase
b,o5,2026-01-25T10:00:00Z,5,purchase
c,o6,2026-01-07T10:00:00Z,50,purchase
d,o7,2026-01-10T10:00:00Z,40,purchase
d,o8,2026-01-10T10:00:00Z,40,refund
"""


@pytest.fixture(scope="module")
def cdnow_orders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_orders_csv(tmp_path_factory.mktemp("cdnow") / "orders.csv")


def _fit(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main(["clv", "fit", str(path), "--calibration-end", "1997-09-30", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _score(
    orders: Path, model: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, list[dict[str, str]], str]:
    argv = ["score", str(orders), "--as-of", "1997-09-30", "--clv-model", str(model), *extra]
    code = main(argv)
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out))) if code == 0 else []
    return code, rows, captured.err


def test_clv_fit_prints_the_model_json_with_time_unit_and_calibration_end(
    cdnow_orders: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _fit(cdnow_orders, capsys, "--time-unit", "week")
    model = ValueModel.model_validate_json(out)
    assert (code, model.time_unit, model.calibration_end.isoformat()) == (
        0,
        TimeUnit.WEEK,
        "1997-09-30",
    )


def test_clv_fit_reproduces_published_gamma_gamma_parameters(
    cdnow_orders: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fader, Hardie & Lee (2005) "RFM and CLV": p 6.25, q 3.74, v 15.44 on the 946 repeaters
    of the 39-week calibration (weeks); tolerance: half a unit in the last published digit."""
    _, out, _ = _fit(cdnow_orders, capsys)
    spend = json.loads(out)["gamma_gamma"]
    assert (spend["p"], spend["q"], spend["v"]) == (
        pytest.approx(6.25, abs=0.005),
        pytest.approx(3.74, abs=0.005),
        pytest.approx(15.44, abs=0.005),
    )


def test_clv_fit_reproduces_published_bg_nbd_parameters(
    cdnow_orders: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fader, Hardie & Lee (2005) "Counting your customers the easy way": r 0.243, alpha
    4.414, a 0.793, b 2.426 on all 2,357 customers of the 39-week calibration (weeks), the
    zero-amount purchases of the sample included; tolerance: half a unit in the last
    published digit."""
    _, out, _ = _fit(cdnow_orders, capsys)
    model = json.loads(out)
    fit = model["bg_nbd"]
    assert (model["customers"], fit["r"], fit["alpha"], fit["a"], fit["b"]) == (
        2357,
        pytest.approx(0.243, abs=0.0005),
        pytest.approx(4.414, abs=0.0005),
        pytest.approx(0.793, abs=0.0005),
        pytest.approx(2.426, abs=0.0005),
    )


def test_clv_fit_summarises_customers_and_log_likelihoods_on_stderr(
    cdnow_orders: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, err = _fit(cdnow_orders, capsys)
    assert "Gamma-Gamma: 946 customers with repeat purchases, log-likelihood -4055.92" in err


def test_clv_fit_out_writes_a_model_file_that_loads(
    cdnow_orders: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _fit(cdnow_orders, capsys, "--out", str(tmp_path / "model.json"))
    assert (code, out, load_model(tmp_path / "model.json").time_unit) == (0, "", TimeUnit.WEEK)


def test_clv_fit_without_repeat_customers_fails_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,order_id,occurred_at,amount\na,o1,1997-01-02,10\n")
    code, _, err = _fit(path, capsys)
    assert (code, "at least one customer with x > 0" in err) == (2, True)


def test_score_with_clv_model_adds_the_value_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(SMALL)
    model = tmp_path / "model.json"
    model.write_text(json.dumps({**PUBLISHED_MODEL, "time_unit": "day"}))
    code = main(["score", str(orders), "--as-of", "2026-01-31", "--clv-model", str(model)])
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert (code, tuple(header)) == (0, OUTPUT_COLUMNS + CLV_COLUMNS)


def test_score_leaves_value_cells_empty_for_a_customer_without_purchases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(SMALL + "e,o9,2026-01-11T10:00:00Z,5,refund\n")
    model = tmp_path / "model.json"
    model.write_text(json.dumps({**PUBLISHED_MODEL, "time_unit": "day"}))
    main(["score", str(orders), "--as-of", "2026-01-31", "--clv-model", str(model)])
    rows = {r["customer_id"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert [rows["e"][column] for column in CLV_COLUMNS] == [""] * len(CLV_COLUMNS)


def test_score_with_published_model_gives_1_226_purchases_over_273_days(
    cdnow_orders: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fader, Hardie & Lee (2005), section 5: customer 0001 (x = 2, t_x = 30.43, T = 38.86
    weeks at 1997-09-30) expects 1.226 purchases in the next 39 weeks = 273 days."""
    model = tmp_path / "model.json"
    model.write_text(json.dumps(PUBLISHED_MODEL))
    code, rows, _ = _score(cdnow_orders, model, capsys, "--clv-horizon-days", "273")
    customer = next(row for row in rows if row["customer_id"] == "0001")
    assert (code, float(customer["expected_purchases"])) == (0, pytest.approx(1.226, abs=5e-4))


def test_score_with_an_invalid_model_file_fails_naming_the_field(
    cdnow_orders: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model.json"
    model.write_text(json.dumps({**PUBLISHED_MODEL, "bg_nbd": {"r": -1, "alpha": 1, "a": 1}}))
    code, _, err = _score(cdnow_orders, model, capsys)
    assert (code, "field bg_nbd.r" in err) == (2, True)


def test_clv_fit_warns_when_a_parameter_runs_to_its_bound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every repeat purchase worth exactly 10: the spend of customers does not vary, so the
    Gamma-Gamma heterogeneity shape q grows without limit until the search bound."""
    path = tmp_path / "orders.csv"
    lines = ["customer_id,order_id,occurred_at,amount"]
    for i in range(1, 11):
        lines += [f"r{i},a{i},2026-01-0{i % 9 + 1},10", f"r{i},b{i},2026-01-{i + 15},10"]
    path.write_text("\n".join(lines) + "\n")
    code = main(["clv", "fit", str(path), "--calibration-end", "2026-01-31"])
    err = capsys.readouterr().err
    assert (code, "warning: gamma_gamma.q ended at the optimiser's bound" in err) == (0, True)


def test_fitted_model_scores_the_papers_customer_at_1_226_purchases_over_273_days(
    cdnow_orders: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's done-when: `clv fit` (39 weeks to 1997-09-30, weeks), then `score
    --clv-model --clv-horizon-days 273` gives customer 0001 (x = 2, t_x = 30.43, T = 38.86)
    1.226 expected purchases (Fader, Hardie & Lee 2005, section 5); tolerance 5e-4."""
    model = tmp_path / "model.json"
    _fit(cdnow_orders, capsys, "--time-unit", "week", "--out", str(model))
    _, rows, _ = _score(cdnow_orders, model, capsys, "--clv-horizon-days", "273")
    customer = next(row for row in rows if row["customer_id"] == "0001")
    assert float(customer["expected_purchases"]) == pytest.approx(1.226, abs=5e-4)


def test_clv_fit_calibration_end_latest_is_the_day_of_the_last_purchase(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(SMALL + "b,o5,2026-01-28T10:00:00Z,5,refund\n")
    code = main(["clv", "fit", str(path), "--calibration-end", "latest"])
    model = ValueModel.model_validate_json(capsys.readouterr().out)
    # b's purchase on 2026-01-25 is the last; the later refund does not extend the history.
    assert (code, model.calibration_end.isoformat()) == (0, "2026-01-25")


def test_clv_fit_out_replaces_an_existing_model_file_and_leaves_nothing_aside(
    cdnow_orders: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.json"
    out.write_text("old", encoding="utf-8")
    code, _, _ = _fit(cdnow_orders, capsys, "--out", str(out))
    assert (code, load_model(out).time_unit) == (0, TimeUnit.WEEK)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]


def test_score_discounts_predicted_clv_at_the_policy_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stream and the batch read horizon and discount from the same policy field."""
    import yaml

    import tiering

    orders = tmp_path / "orders.csv"
    orders.write_text(SMALL)
    model = tmp_path / "model.json"
    model.write_text(json.dumps({**PUBLISHED_MODEL, "time_unit": "day"}))
    default = yaml.safe_load((Path(tiering.__file__).parent / "default_policy.yaml").read_text())
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({**default, "value": {"annual_discount_rate": 0.5}}))
    argv = ["score", str(orders), "--as-of", "2026-01-31", "--clv-model", str(model)]

    main(argv)
    plain = {r["customer_id"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    main([*argv, "--policy", str(policy)])
    rated = {r["customer_id"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}

    assert float(rated["a"]["predicted_clv"]) < float(plain["a"]["predicted_clv"])
    assert rated["a"]["expected_purchases"] == plain["a"]["expected_purchases"]
