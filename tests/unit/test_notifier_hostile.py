"""Any character in any id or name reaches every channel's wire format safely.

Hostile TierChanged events (customer id, event id, reason text, policy version) and account
managers (id, name, Slack handle, e-mail) are decoded the way the notifier decodes them
(`model_validate_json`, so only what JSON and the schema let through), then rendered and put
into the webhook body (JSON and Slack), the webhook headers and the e-mail. Properties: nothing
raises; the e-mail carries exactly our headers and its subject is one line; the Slack text
holds no control sequence (`<…>`) but the mention we put there; headers are plain tokens; the
JSON payload keeps every value exactly as received.
"""

from __future__ import annotations

import json
import re
from email import message_from_bytes
from email import policy as email_policy
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from schemas.profile import AccountManager
from schemas.tier_changed import TierChanged
from streams.notifier.channels import EmailChannel, WebhookChannel
from streams.notifier.escape import header_token, inline, slack_text
from streams.notifier.exceptions import PermanentDeliveryError
from streams.notifier.render import render
from streams.notifier.routing import Recipient, RouteSource, route
from streams.notifier.rules import decide
from streams.notifier.signing import signature_headers
from streams.notifier.testing import classification, tier_changed
from streams.settings import EmailSettings, WebhookSettings
from tiering.policy import default_policy

POLICY = default_policy()
BASE = tier_changed("c-1", classification("B"), classification("A"))

_NASTY = [
    "\n",
    "\r\n",
    "\x85",
    "\u2028",
    "\u2029",
    "\x00",
    "\x1b[31m",
    "\u202e",
    "\ufeff",
    "\xa0",
    "<!channel>",
    "<!here|here>",
    "<@U0123ABC>",
    "<https://evil.example|click>",
    "&lt;",
    "*bold* _it_ ~x~ `code`",
    "Subject: x\r\nBcc: evil@example.com",
    "\ud800",
    "🙂",
    "é" * 200,
    "a,b@c",
    " ",
]
hostile = st.one_of(
    st.sampled_from(_NASTY),
    st.lists(
        st.sampled_from([*_NASTY, "a", "Z", "0", "-", ":", "@", "\\"]), min_size=1, max_size=8
    ).map("".join),
    st.text(min_size=1, max_size=60),
)
addresses = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "ada@example.com",
            "a,b@example.com",
            "x<y>@example.com",
            '"q"@example.com',
            "ü@exämple.de",
            "a@b\u2028c",
            "\x00@example.com",
            "a@b@c",
        ]
    ),
    hostile.map(lambda local: f"{local}@example.com"),
)


def _event(customer: str, event_id: str, reason: str, version: str) -> TierChanged:
    raw: dict[str, Any] = BASE.model_dump(mode="json")
    raw.update(customer_id=customer, event_id=event_id, policy_version=version)
    raw["reasons"] = [{"code": "tier.abc_rank", "text": reason}]
    try:
        # As the notifier reads it off the topic: JSON bytes through the schema.
        return TierChanged.model_validate_json(json.dumps(raw).encode())
    except ValidationError:
        assume(False)
        raise


def _manager(manager_id: str, name: str, slack: str | None, email: str | None) -> Recipient:
    try:
        manager = AccountManager.model_validate_json(
            json.dumps({"id": manager_id, "name": name, "slack": slack, "email": email})
        )
    except ValidationError:
        assume(False)
        raise
    recipient = route("c", manager, {}, None)
    assert recipient is not None
    return recipient


_MENTION = re.compile(r"<@[UW][A-Za-z0-9]*>")
# A conservative plain address: the channel must accept at least these.
_PLAIN = re.compile(r"[A-Za-z0-9_+-]+@[A-Za-z0-9]+(\.[A-Za-z0-9]+)*")
_TOKEN = re.compile(r"[A-Za-z0-9._+-]{1,64}|sha256-[0-9a-f]{32}")
_EMAIL = EmailChannel(EmailSettings(host="127.0.0.1", port=9))
_JSON_HOOK = WebhookChannel(
    WebhookSettings(url="http://127.0.0.1:9/hook", secret=SecretStr("k"), allow_plain_http=True),
    lambda: 0.0,
)
_SLACK_HOOK = WebhookChannel(
    WebhookSettings(
        url="http://127.0.0.1:9/hook", secret=SecretStr("k"), allow_plain_http=True, format="slack"
    ),
    lambda: 0.0,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    customer=hostile,
    event_id=hostile,
    reason=hostile,
    version=hostile,
    manager_id=hostile,
    name=hostile,
    slack=st.one_of(st.none(), hostile),
    email=addresses,
    digest=st.booleans(),
)
def test_hostile_ids_and_names_render_safely_for_every_channel(
    customer: str,
    event_id: str,
    reason: str,
    version: str,
    manager_id: str,
    name: str,
    slack: str | None,
    email: str | None,
    digest: bool,
) -> None:
    event = _event(customer, event_id, reason, version)
    recipient = _manager(manager_id, name, slack, email)
    alert = decide(event, POLICY)
    assert alert is not None
    alerts = [alert, decide(BASE, POLICY)] if digest else [alert]
    message = render([a for a in alerts if a is not None], recipient)

    # JSON keeps the values exactly.
    payload = json.loads(_JSON_HOOK.body(message))
    assert payload["alerts"][0]["customer_id"] == event.customer_id
    assert payload["alerts"][0]["event_id"] == event.event_id
    assert payload["manager_id"] == recipient.manager_id

    # Slack: no control sequence but the one mention we write.
    slack_payload = json.loads(_SLACK_HOOK.body(message))
    texts = [slack_payload["text"]] + [
        block["text"]["text"] for block in slack_payload["blocks"] if block["type"] == "section"
    ]
    for text in texts:
        assert "<" not in _MENTION.sub("", text, count=1)

    # Headers: plain tokens, the same for every resend.
    assert _TOKEN.fullmatch(message.idempotency_key)
    headers = signature_headers("k", _JSON_HOOK.body(message), 0.0, message.idempotency_key)
    assert all(value.isascii() and value.isprintable() for value in headers.values())

    # E-mail: one-line subject, exactly our headers, and the subject reads back as written.
    assert len(message.subject.splitlines()) == 1 and message.subject.isprintable()
    try:
        mail = _EMAIL.compose(message, recipient)
    except PermanentDeliveryError:
        # Refused (to be parked with the reason): only ever an address of another shape.
        assert recipient.email is None or not _PLAIN.fullmatch(recipient.email)
        return
    # Flattened as aiosmtplib does (SMTP policy: CRLF, folding at 78 characters).
    parsed = message_from_bytes(
        mail.as_bytes(policy=email_policy.SMTP), policy=email_policy.default
    )
    assert {name.lower() for name in parsed} == {
        "from",
        "to",
        "subject",
        "message-id",
        "x-tierstream-idempotency-key",
        "mime-version",
        "content-type",
    }
    # Folding may start the value on a continuation line; readers trim that whitespace. When
    # a fold falls next to an RFC 2047 encoded word, Python's email package reads one space
    # back as two (e.g. an id ending "\\x1f ¡" past column 78), so runs of spaces compare as
    # one: the words and their order must come back exactly.
    assert " ".join(parsed["Subject"].split()) == " ".join(message.subject.split())
    assert parsed["X-Tierstream-Idempotency-Key"] == message.idempotency_key


@pytest.mark.parametrize(
    "address",
    ["a,b@example.com", "x<y>@example.com", '"q"@example.com', "ü@exämple.de", "\x00@example.com"],
)
async def test_an_address_that_is_not_one_plain_address_is_refused_before_any_io(
    address: str,
) -> None:
    recipient = Recipient("m-1", "Ada", address, None, RouteSource.PROFILE)
    alert = decide(BASE, POLICY)
    assert alert is not None
    # Port 9 on loopback: any connection attempt would fail as a retryable DeliveryError.
    with pytest.raises(PermanentDeliveryError, match="not one plain ASCII address"):
        await _EMAIL.send(render([alert], recipient), recipient)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("c\u2028x", "c\\u2028x"),
        ("c\x85x", "c\\x85x"),
        ("c\nx", "c\\nx"),
        ("c\ud800x", "c\\ud800x"),
        ("plain id-1", "plain id-1"),
    ],
)
def test_inline_writes_every_unprintable_character_as_its_escape(value: str, expected: str) -> None:
    assert inline(value) == expected


def test_slack_text_escapes_the_characters_of_control_sequences() -> None:
    assert slack_text("<!channel> & co") == "&lt;!channel&gt; &amp; co"


def test_a_header_token_is_the_key_when_plain_and_a_stable_digest_otherwise() -> None:
    uuid = "ac1c0fcf-9ba7-5024-aec3-68480369f664"
    assert header_token(uuid) == uuid
    assert header_token("a b") == header_token("a b") != "a b"
    assert re.fullmatch(r"sha256-[0-9a-f]{32}", header_token("a\r\nb"))
    assert header_token("+".join([uuid, uuid])).startswith("sha256-")  # 73 characters


def _rendered(customer: str) -> tuple[Any, Recipient]:
    recipient = Recipient("m-1", "Ada", "ada@example.com", "U0123ABC", RouteSource.PROFILE)
    alert = decide(tier_changed(customer, classification("B"), classification("A")), POLICY)
    assert alert is not None
    return render([alert], recipient), recipient


@pytest.mark.parametrize("customer", ["c\u2028x", "c\x85x", "c\nx", "c\r\nBcc: evil@x.org"])
def test_a_customer_id_with_a_line_break_makes_a_one_line_subject(customer: str) -> None:
    message, recipient = _rendered(customer)
    mail = _EMAIL.compose(message, recipient)  # raised ValueError before escaping
    parsed = message_from_bytes(
        mail.as_bytes(policy=email_policy.SMTP), policy=email_policy.default
    )
    assert "bcc" not in {name.lower() for name in parsed}
    assert parsed["Subject"].strip() == message.subject == f"[tierstream] {_subject(customer)}"


def _subject(customer: str) -> str:
    return f"customer {inline(customer)}: tier upgrade"


def test_a_customer_id_cannot_mention_the_channel_in_slack() -> None:
    message, _ = _rendered("<!channel>")
    body = json.loads(_SLACK_HOOK.body(message))
    texts = [body["text"], *(b["text"]["text"] for b in body["blocks"] if b["type"] == "section")]
    assert all("<!channel>" not in text and "&lt;!channel&gt;" in text for text in texts)
