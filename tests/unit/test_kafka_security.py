"""Every Kafka client of the worker and the notifier connects with the configured security."""

from __future__ import annotations

import ssl

import faust

from streams.kafka.security import client_options, faust_credentials
from streams.settings import KafkaSettings


def _sasl(protocol: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap="kafka:9093",
        security_protocol=protocol,  # type: ignore[arg-type]
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="tierstream",
        sasl_password="s3cret",  # type: ignore[arg-type]  # noqa: S106 (a test value)
    )


def test_plaintext_needs_no_credentials() -> None:
    kafka = KafkaSettings(bootstrap="kafka:9092")
    assert client_options(kafka) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(kafka) is None


def test_sasl_ssl_gives_aiokafka_clients_the_mechanism_the_user_the_password_and_tls() -> None:
    options = client_options(_sasl("SASL_SSL"))
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "tierstream",
        "s3cret",
    )
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_sasl_ssl_gives_the_faust_app_sasl_credentials_over_tls() -> None:
    credentials = faust_credentials(_sasl("SASL_SSL"))
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert (credentials.username, credentials.password) == ("tierstream", "s3cret")


def test_sasl_plaintext_has_no_tls() -> None:
    assert "ssl_context" not in client_options(_sasl("SASL_PLAINTEXT"))
    credentials = faust_credentials(_sasl("SASL_PLAINTEXT"))
    assert credentials.protocol.value == "SASL_PLAINTEXT"


def test_ssl_alone_gives_faust_ssl_credentials() -> None:
    kafka = KafkaSettings(bootstrap="kafka:9093", security_protocol="SSL")
    assert isinstance(faust_credentials(kafka), faust.SSLCredentials)
    assert isinstance(client_options(kafka)["ssl_context"], ssl.SSLContext)


def test_the_worker_app_is_built_with_the_configured_credentials() -> None:
    from prometheus_client import CollectorRegistry

    from streams.settings import Settings
    from streams.worker.app import create_worker
    from tiering import default_policy

    settings = Settings(kafka=_sasl("SASL_SSL"))
    worker = create_worker(settings, default_policy(), CollectorRegistry())
    credentials = worker.app.conf.broker_credentials
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "tierstream"
