"""Kafka security settings (TIERSTREAM_KAFKA__SECURITY_PROTOCOL, SASL, CA file) turned into
the options of aiokafka clients and the credentials of a Faust app, so that every client of
a process connects the same way; and, when a client could not connect, which setting to fix."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from streams.settings import KafkaSettings

__all__ = ["client_options", "explain_connection_failure", "faust_credentials"]


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


async def explain_connection_failure(kafka: KafkaSettings, timeout: float = 15.0) -> str:
    """Why clients with these settings cannot connect, naming the TIERSTREAM_KAFKA__* setting
    to fix. aiokafka only logs the cause (a refused password, an untrusted certificate) and
    raises "Unable to bootstrap"; one direct connection to the first bootstrap address, made
    the way the clients make theirs, recovers it. Never quotes a credential."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaError, SaslAuthenticationFailed

    host, _, port = kafka.bootstrap.split(",")[0].strip().rpartition(":")
    try:
        connection = await asyncio.wait_for(
            create_conn(host, int(port), **client_options(kafka)), timeout
        )
    except SaslAuthenticationFailed:
        return (
            f"Kafka refused the SASL {kafka.sasl_mechanism} credentials of user "
            f"{kafka.sasl_username!r}: check TIERSTREAM_KAFKA__SASL_USERNAME and "
            "TIERSTREAM_KAFKA__SASL_PASSWORD"
        )
    except ssl.SSLCertVerificationError:
        return (
            "the broker's TLS certificate is not trusted: check TIERSTREAM_KAFKA__SSL_CAFILE "
            "(the CA that signed it) and that TIERSTREAM_KAFKA__BOOTSTRAP names the host in it"
        )
    except ssl.SSLError:
        return (
            "the TLS handshake with the broker failed: check that "
            f"TIERSTREAM_KAFKA__SECURITY_PROTOCOL={kafka.security_protocol} is what the "
            "listener at TIERSTREAM_KAFKA__BOOTSTRAP speaks"
        )
    except (OSError, ValueError, KafkaError, TimeoutError) as error:
        return (
            f"cannot reach TIERSTREAM_KAFKA__BOOTSTRAP={kafka.bootstrap} with "
            f"TIERSTREAM_KAFKA__SECURITY_PROTOCOL={kafka.security_protocol} "
            f"({type(error).__name__})"
        )
    connection.close()
    return (
        f"a test connection to TIERSTREAM_KAFKA__BOOTSTRAP={kafka.bootstrap} succeeds; "
        "the broker may have been unavailable for a moment"
    )
