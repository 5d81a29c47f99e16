"""Search by channel identity and username: exact, from the index buckets."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.domain.channels import Channel
from bot.domain.models import ConversationStatus
from bot.store.contacts import ContactDraft
from bot.store.search import Scope, SearchFilters
from tests.conftest import StoreEnv

ANY = SearchFilters(status=None)
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
LINE_ID = "U4af4980629fb9d8d6b3e2f2b1a0c9d8e"


@pytest.fixture
async def channels(any_env: StoreEnv, now: datetime) -> StoreEnv:
    drafts = [
        ContactDraft(
            first_name="Tariq",
            identities={Channel.TELEGRAM: "548213907"},
            handles={Channel.TELEGRAM: "tariq_k"},
        ),
        ContactDraft(identities={Channel.WECHAT: OPENID}),
        ContactDraft(first_name="Line", last_name="User", identities={Channel.LINE: LINE_ID}),
        ContactDraft(first_name="Vera", identities={Channel.VIBER: "01234567890A="}),
        ContactDraft(first_name="Mona", identities={Channel.MESSENGER: "6843021975312468"}),
        ContactDraft(
            first_name="Insta",
            identities={Channel.INSTAGRAM: "17841400008460056"},
            handles={Channel.INSTAGRAM: "sara.a"},
        ),
        ContactDraft(first_name="Web", identities={Channel.WEBCHAT: "v_123"}),
        # Prefixes of the identities above must not match: identities match whole.
        ContactDraft(first_name="Decoy", identities={Channel.TELEGRAM: "5482139070"}),
        ContactDraft(
            first_name="Decoy2",
            identities={Channel.WEBCHAT: "v_1234"},
            handles={Channel.TELEGRAM: "tariq_kk"},
        ),
    ]
    for draft in drafts:
        await any_env.contacts.create(draft, now)
    return any_env


async def ids_of(env: StoreEnv, query: str, filters: SearchFilters = ANY) -> list[str]:
    page = await env.search.search(query, filters)
    return sorted(
        f"{c.first_name}|{'/'.join(sorted(c.identities.values()))}" for c in page.contacts
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("@tariq_k", ["Tariq|548213907"]),
        ("tariq_k", ["Tariq|548213907"]),
        ("@Tariq_K", ["Tariq|548213907"]),
        ("548213907", ["Tariq|548213907"]),
        (OPENID, [f"|{OPENID}"]),
        (LINE_ID, [f"Line|{LINE_ID}"]),
        ("01234567890A=", ["Vera|01234567890A="]),
        ("6843021975312468", ["Mona|6843021975312468"]),
        ("17841400008460056", ["Insta|17841400008460056"]),
        ("@sara.a", ["Insta|17841400008460056"]),
        ("sara.a", ["Insta|17841400008460056"]),
        ("v_123", ["Web|v_123"]),
    ],
    ids=[
        "telegram_at_username",
        "telegram_username",
        "username_any_case",
        "telegram_chat_id",
        "wechat_openid",
        "line_user_id",
        "viber_id",
        "messenger_psid",
        "instagram_igsid",
        "instagram_at_username",
        "instagram_username",
        "webchat_visitor",
    ],
)
async def test_an_identity_or_username_finds_its_contact_exactly(
    channels: StoreEnv, query: str, expected: list[str]
) -> None:
    assert await ids_of(channels, query) == expected


async def test_a_prefix_of_an_identity_finds_nothing(channels: StoreEnv) -> None:
    assert await ids_of(channels, "@tariq") == []
    assert await ids_of(channels, OPENID[:-1]) == []


async def test_identity_search_keeps_the_filters(channels: StoreEnv, now: datetime) -> None:
    """Closed by default; in My inbox only when assigned to me."""
    found = await channels.contacts.find_by_identity(Channel.TELEGRAM, "548213907")
    assert found is not None
    mine = SearchFilters(scope=Scope.MINE, agent="U1", status=None)
    assert await ids_of(channels, "@tariq_k", mine) == []
    await channels.contacts.reopen(found.id, "U1", now)
    assert await ids_of(channels, "@tariq_k", mine) == ["Tariq|548213907"]
    closed_only = SearchFilters(status=ConversationStatus.CLOSED)
    assert await ids_of(channels, "548213907", closed_only) == []


async def test_a_changed_username_finds_by_the_new_one_only(channels: StoreEnv) -> None:
    found = await channels.contacts.find_by_identity(Channel.TELEGRAM, "548213907")
    assert found is not None
    await channels.contacts.update_details(found.id, handles={Channel.TELEGRAM: "tk_new"})
    assert await ids_of(channels, "@tariq_k") == []
    assert await ids_of(channels, "@tk_new") == ["Tariq|548213907"]


async def test_a_username_may_pass_to_another_contact(channels: StoreEnv, now: datetime) -> None:
    """Usernames are not unique over time: a second holder is created, both are found."""
    result = await channels.contacts.create(
        ContactDraft(
            first_name="Other",
            identities={Channel.TELEGRAM: "777000111"},
            handles={Channel.TELEGRAM: "tariq_k"},
        ),
        now,
    )
    assert result.created
    assert await ids_of(channels, "@tariq_k") == ["Other|777000111", "Tariq|548213907"]
