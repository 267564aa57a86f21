"""Making any id or free text safe for the places an alert is written to.

Customer ids, event ids, reason texts, manager names and Slack handles come from upstream
systems and may hold any character. Each output form has its own hazards:

- one-line text (e-mail subject, headings): line breaks, including the ones Python's
  `str.splitlines` counts (U+0085, U+2028, U+2029, ...), end a header or forge a line;
- Slack mrkdwn: `<!channel>`, `<@U…>` and `<url|label>` are control sequences, so `&`, `<`
  and `>` are written as `&amp;`, `&lt;`, `&gt;` (Slack's "Escaping text" rules);
- protocol headers (`Message-ID`, `Idempotency-Key`): only a plain token is safe.

The JSON payloads keep every value exactly as received; JSON escaping covers them.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["header_token", "inline", "slack_text"]

# 64 characters: with the longest header name (`X-Tierstream-Idempotency-Key: `, 30) a line
# stays within the 78 characters after which SMTP's generator folds the value onto a
# continuation line (which readers then see with leading whitespace).
_TOKEN = re.compile(r"[A-Za-z0-9._+-]{1,64}")
# A message that names a few hundred characters of one id has said enough.
_INLINE_MAX = 300


def _escaped(char: str) -> str:
    # `unicode_escape` writes \x85, \u2028, \U0001f600 and lone surrogates as ASCII.
    return char.encode("unicode_escape", "backslashreplace").decode("ascii")


def inline(value: str, limit: int = _INLINE_MAX) -> str:
    """`value` as printable text on one line, at most `limit` characters (then `…`).

    Every character `str.isprintable()` refuses (control and format characters, line and
    paragraph separators, non-ASCII spaces, surrogates, unassigned code points) is written
    as its Python escape (`\\u2028`), so nothing can break the line it is written on.
    """
    text = "".join(char if char.isprintable() else _escaped(char) for char in value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_text(value: str, limit: int = _INLINE_MAX) -> str:
    """`inline(value)` with `&`, `<`, `>` escaped, so Slack shows it as written."""
    return inline(value, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def header_token(key: str) -> str:
    """`key` itself when it is a plain token (letters, digits, `.`, `_`, `+`, `-`; at most
    64 characters), else `sha256-` and the first 32 hex digits (128 bits) of the SHA-256 of
    its UTF-8 bytes: a stable value, safe in any header, the same for every resend."""
    if _TOKEN.fullmatch(key):
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256-{digest[:32]}"
