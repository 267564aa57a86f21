"""`GET /customers/{id}` on a real worker with tokens configured: who may read which customer.

Two workers of one group (two partitions, one each, event clock) serve the module's tests:
customers c-1 (account manager m-1) and c-2 (m-2), on different partitions, each bought
once, their profiles are on the customers topic, and a watermark closes the boundary that
classifies them.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from schemas.profile import AccountManager, CustomerProfile
from streams.access import digest
from streams.worker.endpoints import LIVENESS_PATH, METRICS_PATH, READINESS_PATH
from tests.conftest import Infra
from tests.integration.deployed import get
from tests.integration.worker_process import (
    Outgoing,
    log_tail,
    order,
    prepare_topics,
    produce,
    running_worker,
    watermarks,
    with_own_port,
    worker_env,
)

pytestmark = pytest.mark.integration

# Test tokens, not credentials.
ADMIN = "admin-token"
M1 = "m1-token"
M2 = "m2-token"
START = datetime(2026, 3, 2, 12, tzinfo=UTC)
WAIT_SECONDS = 180.0
PARTITIONS = 2


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _owned(base: str, orders_topic: str) -> frozenset[int]:
    """The input partitions a worker owns: those it reports consumer lag for."""
    _, body = get(base + METRICS_PATH)
    return frozenset(
        int(sample.labels["partition"])
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "tierstream_consumer_lag_records"
        and sample.labels["topic"] == orders_topic
    )


def _split(bases: list[str], orders_topic: str) -> bool:
    """Whether each of the two workers owns one of the two partitions."""
    owned = [_owned(base, orders_topic) for base in bases]
    return all(len(o) == 1 for o in owned) and owned[0] != owned[1]


@pytest.fixture(scope="module")
def workers(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Base URLs of two workers of one group, one partition each, that have classified c-1
    and c-2 (on different partitions: murmur2 puts c-1 on 1, c-2 on 0) and stored their
    profiles, so a lookup on one worker is answered by the other for one of the customers."""
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
        infra,
        name,
        workdir / "data",
        partitions=PARTITIONS,
        TIERSTREAM_ACCESS__TOKENS_FILE=str(tokens),
        TIERSTREAM_STANDBY_REPLICAS="0",
        TIERSTREAM_METRICS_INTERVAL_SECONDS="1",
    )
    second = with_own_port({**env, "TIERSTREAM_DATA_DIR": str(workdir / "data-2")})
    prepare_topics(infra, name, partitions=PARTITIONS)
    logs = [workdir / "first.log", workdir / "second.log"]
    bases = [f"http://127.0.0.1:{e['TIERSTREAM_WEB__PORT']}" for e in (env, second)]
    with running_worker(env, logs[0]), running_worker(second, logs[1]):
        profiles = [
            CustomerProfile(customer_id=c, account_manager=AccountManager(id=m, name=m))
            for c, m in (("c-1", "m-1"), ("c-2", "m-2"))
        ]
        records: list[Outgoing] = [
            (f"{name}-customers", p.customer_id.encode(), p.model_dump_json().encode(), [], None)
            for p in profiles
        ]
        for number, customer in enumerate(("c-1", "c-2")):
            event = order(customer, f"{name}-o{number}", START, "100")
            records.append(
                (f"{name}-orders", customer.encode(), event.model_dump_json().encode(), [], None)
            )
        records += watermarks(name, START + timedelta(days=2), PARTITIONS)
        asyncio.run(produce(infra.kafka_bootstrap, records))
        # Ready once the group split the partitions and both customers are classified with
        # their profiles stored: each manager token then reads its own customer.
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if _split(bases, f"{name}-orders") and all(
                get(f"{base}/customers/{c}", _bearer(t))[0] == 200
                for base in bases
                for c, t in (("c-1", M1), ("c-2", M2))
            ):
                break
            time.sleep(0.5)
        else:
            raise AssertionError("customers never readable\n" + "".join(map(log_tail, logs)))
        yield bases


# Every test asks both workers about both customers: one of each pair is forwarded to the
# other worker (Faust's table routing), which checks the token again.
CUSTOMERS = ("c-1", "c-2")


def test_a_lookup_without_a_token_is_refused_with_401(workers: list[str]) -> None:
    for base in workers:
        assert [get(f"{base}/customers/{c}")[0] for c in CUSTOMERS] == [401, 401]


def test_a_lookup_with_an_unknown_token_is_refused_with_401(workers: list[str]) -> None:
    for base in workers:
        answers = [get(f"{base}/customers/{c}", _bearer("guessed"))[0] for c in CUSTOMERS]
        assert answers == [401, 401]


def test_a_manager_token_reads_its_managers_customer_on_any_worker(workers: list[str]) -> None:
    for base in workers:
        status, body = get(f"{base}/customers/c-1", _bearer(M1))
        assert status == 200
        assert json.loads(body)["customer_id"] == "c-1"


def test_a_manager_token_is_refused_another_managers_customer(workers: list[str]) -> None:
    for base in workers:
        assert get(f"{base}/customers/c-2", _bearer(M1))[0] == 403
        assert get(f"{base}/customers/c-1", _bearer(M2))[0] == 403


def test_a_manager_token_learns_nothing_of_an_unknown_customer(workers: list[str]) -> None:
    # 403, as for a customer of another manager: the status does not reveal existence.
    for base in workers:
        assert get(f"{base}/customers/nobody", _bearer(M1))[0] == 403


def test_an_admin_token_reads_every_customer(workers: list[str]) -> None:
    for base in workers:
        answers = [get(f"{base}/customers/{c}", _bearer(ADMIN))[0] for c in CUSTOMERS]
        assert answers == [200, 200]
        assert get(f"{base}/customers/nobody", _bearer(ADMIN))[0] == 404


@pytest.mark.parametrize("path", [LIVENESS_PATH, READINESS_PATH, METRICS_PATH])
def test_probes_and_metrics_need_no_token(workers: list[str], path: str) -> None:
    for base in workers:
        assert get(f"{base}{path}")[0] == 200
