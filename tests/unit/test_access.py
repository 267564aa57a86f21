"""Bearer tokens: the tokens file, what each token grants, and how configuration fails."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from streams.access import ADMIN, Access, AccessFileError, Grant, digest, load_grants
from streams.settings import ConfigError, load_settings

ADMIN_TOKEN = "admin-token"  # noqa: S105 (a test token, not a credential)
MANAGER_TOKEN = "manager-token"  # noqa: S105


def _tokens_file(tmp_path: Path, entries: list[dict[str, object]]) -> Path:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"tokens": entries}), encoding="utf-8")
    return path


@pytest.fixture
def access(tmp_path: Path) -> Access:
    return Access.from_file(
        _tokens_file(
            tmp_path,
            [
                {"sha256": digest(ADMIN_TOKEN), "admin": True},
                {"sha256": digest(MANAGER_TOKEN), "managers": ["m-1", "m-2"]},
            ],
        )
    )


def test_digest_is_the_sha256_hex_of_the_token() -> None:
    # FIPS 180-2, appendix B.1: SHA-256("abc").
    assert digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic YWRtaW4tdG9rZW4=", "admin-token", "Bearer unknown"],
)
def test_a_missing_malformed_or_unknown_token_gets_no_grant(
    access: Access, header: str | None
) -> None:
    assert access.grant_for(header) is None


def test_an_admin_token_reads_every_manager(access: Access) -> None:
    grant = access.grant_for(f"Bearer {ADMIN_TOKEN}")
    assert grant == ADMIN
    assert grant.may_read("anyone") and grant.may_read(None)


def test_a_manager_token_reads_only_its_managers(access: Access) -> None:
    grant = access.grant_for(f"bearer {MANAGER_TOKEN}")
    assert grant == Grant(admin=False, managers=frozenset({"m-1", "m-2"}))
    assert grant.may_read("m-1") and grant.may_read("m-2")
    assert not grant.may_read("m-3")
    assert not grant.may_read(None)


def test_without_a_tokens_file_access_is_open() -> None:
    access = Access.from_file(None)
    assert access.open
    assert access.grant_for(None) == ADMIN


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ([{"sha256": digest("x")}], "tokens.0: Value error, an entry needs admin"),
        ([{"sha256": "not-hex", "admin": True}], "tokens.0.sha256"),
        ([{"sha256": digest("x"), "admin": True, "role": "x"}], "tokens.0.role"),
        ([{"sha256": digest("x"), "managers": [""]}], "manager ids are 1 to 200"),
        ([], "tokens: List should have at least 1 item"),
    ],
)
def test_an_invalid_tokens_file_names_the_entry(
    tmp_path: Path, entries: list[dict[str, object]], problem: str
) -> None:
    with pytest.raises(AccessFileError, match=re.escape(problem)):
        load_grants(_tokens_file(tmp_path, entries))


def test_a_repeated_digest_is_refused_without_printing_it(tmp_path: Path) -> None:
    entry = {"sha256": digest("x"), "admin": True}
    with pytest.raises(AccessFileError, match=r"tokens\.1 repeats") as error:
        load_grants(_tokens_file(tmp_path, [entry, entry]))
    assert digest("x") not in str(error.value)


def test_settings_fail_at_start_up_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokens.json"
    path.write_text("{not json", encoding="utf-8")
    monkeypatch.setenv("TIERSTREAM_ACCESS__TOKENS_FILE", str(path))
    with pytest.raises(ConfigError, match=r"TIERSTREAM_ACCESS__TOKENS_FILE: .* is not JSON"):
        load_settings()


def test_a_missing_tokens_file_fails_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERSTREAM_ACCESS__TOKENS_FILE", str(tmp_path / "absent.json"))
    with pytest.raises(ConfigError, match=r"TIERSTREAM_ACCESS__TOKENS_FILE: .*cannot read"):
        load_settings()
