"""How a typed query looks up channel identities and usernames (exact terms)."""

from __future__ import annotations

import pytest

from bot.domain.channels import Channel
from bot.domain.contacts import (
    EXACT_KINDS,
    QueryError,
    TermKind,
    identity_term,
    normalise_handle,
    parse_query,
)


def exact(query: str) -> set[tuple[TermKind, str]]:
    return {(k, p) for k, p in parse_query(query, "AE").prefixes if k in EXACT_KINDS}


def test_an_at_username_is_a_handle_query_on_telegram_and_instagram() -> None:
    parsed = parse_query("@Sara_A", "AE")
    assert parsed.field_type == "handle"
    assert set(parsed.prefixes) == {
        (TermKind.HANDLE, "telegram:sara_a"),
        (TermKind.HANDLE, "instagram:sara_a"),
    }


def test_a_number_is_a_phone_and_the_numeric_identities() -> None:
    parsed = parse_query("548213907", "AE")
    assert parsed.field_type == "phone"
    assert (TermKind.IDENTITY, "telegram:548213907") in parsed.prefixes
    assert (TermKind.IDENTITY, "messenger:548213907") in parsed.prefixes
    assert (TermKind.IDENTITY, "instagram:548213907") in parsed.prefixes
    assert exact("-1001234567890") >= {(TermKind.IDENTITY, "telegram:-1001234567890")}


def test_one_word_looks_up_tokens_and_usernames_several_words_do_not() -> None:
    assert exact("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o") >= {
        (TermKind.IDENTITY, "wechat:oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        (TermKind.IDENTITY, "line:oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        (TermKind.HANDLE, "telegram:oupf8umuajo_m2pxb1q9znjwes6o"),
    }
    assert exact("sara ahmed") == set()


@pytest.mark.parametrize("bad", ["@", "@a b", "@ä"])
def test_a_bad_username_query_is_refused(bad: str) -> None:
    with pytest.raises(QueryError):
        parse_query(bad, "AE")


def test_handles_are_stored_lower_case_without_at() -> None:
    assert normalise_handle("@Sara_A") == "sara_a"
    assert normalise_handle("sara a") is None
    assert identity_term(Channel.TELEGRAM, "sara_a") == "telegram:sara_a"
