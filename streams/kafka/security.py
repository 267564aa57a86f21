"""Kafka security settings (TIERSTREAM_KAFKA__SECURITY_PROTOCOL, SASL, CA file) turned into
the options of aiokafka clients and the credentials of a Faust app, so that every client of
a process connects the same way."""

from __future__ import annotations

from typing import Any

from streams.settings import KafkaSettings

__all__ = ["client_options", "faust_credentials"]


def _ssl_context(kafka: KafkaSettings) -> Any:
    from aiokafka.helpers import create_ssl_context

    cafile = None if kafka.ssl_cafile is None else str(kafka.ssl_cafile)
    return create_ssl_context(cafile=cafile)


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
    options: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    if kafka.sasl_mechanism:
        options["sasl_mechanism"] = kafka.sasl_mechanism
        options["sasl_plain_username"] = kafka.sasl_username
        options["sasl_plain_password"] = (
            kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        )
    if kafka.security_protocol.endswith("SSL"):
        options["ssl_context"] = _ssl_context(kafka)
    return options


def faust_credentials(kafka: KafkaSettings) -> Any:
    """`broker_credentials` of the Faust app; None for PLAINTEXT."""
    import faust

    protocol = kafka.security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(_ssl_context(kafka))
    password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=password,
        mechanism=kafka.sasl_mechanism,
        ssl_context=_ssl_context(kafka) if protocol == "SASL_SSL" else None,
    )
