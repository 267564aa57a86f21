"""Push channels: signed webhooks and SMTP e-mail. Each raises `DeliveryError` to be retried
and `PermanentDeliveryError` when retrying cannot help (the alert is then parked).

The Redis streams are not here: they are written exactly once in the same Redis transaction
as their idempotency mark (`streams.notifier.delivery.RedisStreams`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from email import policy as email_policy
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Protocol

from streams.notifier.exceptions import DeliveryError, PermanentDeliveryError
from streams.notifier.render import Message
from streams.notifier.routing import Recipient
from streams.notifier.signing import signature_headers

if TYPE_CHECKING:
    import aiohttp

    from streams.settings import EmailSettings, WebhookSettings

__all__ = ["Channel", "EmailChannel", "WebhookChannel"]

# Status codes worth retrying: timeouts, rate limits, and the server side's trouble.
_RETRYABLE = frozenset({408, 425, 429})

# The addresses the e-mail channel sends to: an ASCII dot-atom local part (RFC 5322 atext)
# and a host name. Anything else (a comma, angle brackets, quotes, controls, non-ASCII) could
# add recipients or headers, so such an alert is parked with the reason instead.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)


class Channel(Protocol):
    """A way to push one message to one recipient."""

    name: str

    def accepts(self, recipient: Recipient) -> bool:
        """Whether this channel can reach `recipient` at all (e-mail needs an address)."""
        ...

    async def send(self, message: Message, recipient: Recipient) -> None:
        """Deliver or raise DeliveryError / PermanentDeliveryError."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class WebhookChannel:
    """JSON POST to one URL, signed (see `streams.notifier.signing`); Slack format optional."""

    name = "webhook"

    def __init__(self, settings: WebhookSettings, now: Callable[[], float]) -> None:
        if not settings.url or settings.secret is None:
            raise ValueError("webhook channel needs a url and a secret")
        self._url = settings.url
        self._secret = settings.secret
        self._format = settings.format
        self._timeout = settings.timeout_seconds
        self._now = now
        self._session: aiohttp.ClientSession | None = None

    def accepts(self, recipient: Recipient) -> bool:
        """A webhook reaches everybody: the receiver routes on `manager_id`."""
        return True

    def body(self, message: Message) -> bytes:
        """The exact bytes that are signed and sent."""
        payload: dict[str, Any] = message.slack if self._format == "slack" else message.payload
        return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()

    async def send(self, message: Message, recipient: Recipient) -> None:
        """POST the message; 2xx is delivered, 408/425/429/5xx and I/O errors are retried."""
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        body = self.body(message)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "tierstream-notifier",
            **signature_headers(
                self._secret.get_secret_value(), body, self._now(), message.idempotency_key
            ),
        }
        try:
            async with self._session.post(self._url, data=body, headers=headers) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DeliveryError(f"webhook: {type(error).__name__}") from error
        if 200 <= status < 300:
            return
        if status >= 500 or status in _RETRYABLE:
            raise DeliveryError(f"webhook: HTTP {status}")
        raise PermanentDeliveryError(f"webhook: HTTP {status} (refused; not retried)")

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class EmailChannel:
    """One e-mail per message over SMTP (aiosmtplib); Message-ID derives from the event ids."""

    name = "email"

    def __init__(self, settings: EmailSettings) -> None:
        if not settings.host:
            raise ValueError("email channel needs a host")
        self._settings = settings

    def accepts(self, recipient: Recipient) -> bool:
        """Only recipients with an e-mail address."""
        return bool(recipient.email)

    def compose(self, message: Message, recipient: Recipient) -> EmailMessage:
        """The e-mail: plain text body, the JSON payload as an attachment, idempotency headers.
        Raises PermanentDeliveryError when the recipient is not one plain ASCII address."""
        address = recipient.email or ""
        if len(address) > 254 or not _PLAIN_ADDRESS.fullmatch(address):
            raise PermanentDeliveryError("email: recipient is not one plain ASCII address")
        # Lines up to RFC 5322's 998 characters: an idempotency token is never folded.
        email = EmailMessage(policy=email_policy.default.clone(max_line_length=998))
        email["From"] = self._settings.sender
        email["To"] = address
        email["Subject"] = message.subject
        # A stable Message-ID lets a receiving system drop a resend after a crash.
        email["Message-ID"] = f"<{message.idempotency_key}@tierstream>"
        email["X-Tierstream-Idempotency-Key"] = message.idempotency_key
        email.set_content(message.text)
        email.add_attachment(
            json.dumps(message.payload, indent=2).encode(),
            maintype="application",
            subtype="json",
            filename="alert.json",
        )
        return email

    async def send(self, message: Message, recipient: Recipient) -> None:
        """Send over SMTP; 5xx replies are permanent, everything else is retried. A recipient
        address that is not one plain ASCII address is refused (permanent) before any I/O."""
        import aiosmtplib

        settings = self._settings
        email = self.compose(message, recipient)
        try:
            await aiosmtplib.send(
                email,
                sender=settings.sender,
                recipients=[email["To"]],
                hostname=settings.host,
                port=settings.port,
                username=settings.username,
                password=settings.password.get_secret_value() if settings.password else None,
                use_tls=settings.use_tls,
                start_tls=settings.start_tls,
                timeout=settings.timeout_seconds,
            )
        except aiosmtplib.SMTPResponseException as error:
            if 500 <= error.code < 600:
                raise PermanentDeliveryError(f"email: SMTP {error.code}") from error
            raise DeliveryError(f"email: SMTP {error.code}") from error
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise DeliveryError(f"email: {type(error).__name__}") from error

    async def close(self) -> None:
        """Nothing held between messages."""
