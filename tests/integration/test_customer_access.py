"""`GET /customers/{id}` on a real worker with tokens configured: who may read which customer.

One worker (one partition, event clock) serves the module's tests: customers c-1 (account
manager m-1) and c-2 (m-2) each bought once, their profiles are on the customers topic, and
a watermark closes the boundary that classifies them.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from schemas.profile import AccountManager, CustomerProfile
from streams.access import digest
from streams.worker.endpoints import LIVENESS_PATH, METRICS_PATH, READINESS_PATH
from tests.conftest import Infra
from tests.integration.deployed import get
from tests.integration.worker_process import (
    log_tail,
    order,
    prepare_topics,
    produce,
    running_worker,
    watermarks,
    worker_env,
)

pytestmark = pytest.mark.integration

# Test tokens, not credentials.
ADMIN = "admin-token"
M1 = "m1-token"
M2 = "m2-token"
START = datetime(2026, 3, 2, 12, tzinfo=UTC)
WAIT_SECONDS = 120.0


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def worker(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a worker that has classified c-1 and c-2 and stored their profiles."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    workdir = tmp_path_factory.mktemp("customer-access")
    tokens = workdir / "tokens.json"
    entries = [
        {"sha256": digest(ADMIN), "admin": True},
        {"sha256": digest(M1), "managers": ["m-1"]},
        {"sha256": digest(M2), "managers": ["m-2"]},
    ]
    tokens.write_text(json.dumps({"tokens": entries}), encoding="utf-8")
    env = worker_env(
        infra, name, workdir / "data", partitions=1, TIERSTREAM_ACCESS__TOKENS_FILE=str(tokens)
    )
    prepare_topics(infra, name, partitions=1)
    log = workdir / "worker.log"
    base = f"http://127.0.0.1:{env['TIERSTREAM_WEB__PORT']}"
    with running_worker(env, log):
        profiles = [
            CustomerProfile(customer_id=c, account_manager=AccountManager(id=m, name=m))
            for c, m in (("c-1", "m-1"), ("c-2", "m-2"))
        ]
        records = [
            (f"{name}-customers", p.customer_id.encode(), p.model_dump_json().encode(), [], None)
            for p in profiles
        ]
        for number, customer in enumerate(("c-1", "c-2")):
            event = order(customer, f"{name}-o{number}", START, "100")
            records.append(
                (f"{name}-orders", customer.encode(), event.model_dump_json().encode(), [], None)
            )
        records += watermarks(name, START + timedelta(days=2), 1)
        asyncio.run(produce(infra.kafka_bootstrap, records))
        # Ready once both customers are classified and their profiles stored: each manager
        # token then reads its own customer.
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if all(
                get(f"{base}/customers/{c}", _bearer(t))[0] == 200
                for c, t in (("c-1", M1), ("c-2", M2))
            ):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"customers never readable\n{log_tail(log)}")
        yield base


def test_a_lookup_without_a_token_is_refused_with_401(worker: str) -> None:
    assert get(f"{worker}/customers/c-1")[0] == 401


def test_a_lookup_with_an_unknown_token_is_refused_with_401(worker: str) -> None:
    assert get(f"{worker}/customers/c-1", _bearer("guessed"))[0] == 401


def test_a_manager_token_reads_its_managers_customer(worker: str) -> None:
    status, body = get(f"{worker}/customers/c-1", _bearer(M1))
    assert status == 200
    assert json.loads(body)["customer_id"] == "c-1"


def test_a_manager_token_is_refused_another_managers_customer(worker: str) -> None:
    assert get(f"{worker}/customers/c-2", _bearer(M1))[0] == 403


def test_a_manager_token_learns_nothing_of_an_unknown_customer(worker: str) -> None:
    # 403, as for a customer of another manager: the status does not reveal existence.
    assert get(f"{worker}/customers/nobody", _bearer(M1))[0] == 403


def test_an_admin_token_reads_every_customer(worker: str) -> None:
    for customer in ("c-1", "c-2"):
        assert get(f"{worker}/customers/{customer}", _bearer(ADMIN))[0] == 200
    assert get(f"{worker}/customers/nobody", _bearer(ADMIN))[0] == 404


@pytest.mark.parametrize("path", [LIVENESS_PATH, READINESS_PATH, METRICS_PATH])
def test_probes_and_metrics_need_no_token(worker: str, path: str) -> None:
    assert get(f"{worker}{path}")[0] == 200
