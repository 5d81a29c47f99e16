"""Contact search by name, e-mail and phone, answered from the indexes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.domain.channels import Channel
from bot.domain.contacts import QueryError
from bot.domain.models import ConversationStatus
from bot.store.contacts import ContactDraft
from bot.store.search import ContactSearch, Scope, SearchFilters, SortOrder
from tests.conftest import StoreEnv

ANY = SearchFilters(status=None)


async def names(env: StoreEnv, query: str, filters: SearchFilters = ANY, **kw: int) -> list[str]:
    page = await env.search.search(query, filters, **kw)
    return [c.name for c in page.contacts]


@pytest.fixture
async def people(any_env: StoreEnv, now: datetime) -> StoreEnv:
    drafts = [
        ContactDraft(
            first_name="Sara",
            last_name="Ahmed",
            email="Sara.Ahmed@Example.com",
            phone="+971501234567",
            identities={Channel.WHATSAPP: "971501234567"},
        ),
        ContactDraft(
            first_name="José", last_name="Álvarez", email="jose@example.es", phone="+34612345678"
        ),
        ContactDraft(first_name="أحمد", last_name="إبراهيم", phone="+201009876543"),
        ContactDraft(first_name="فاطمة", last_name="الزهراء", email="fatima@example.com"),
        ContactDraft(
            first_name="Omar", last_name="Saleh", email="omar@example.com", phone="+447700900123"
        ),
    ]
    for draft in drafts:
        await any_env.contacts.create(draft, now)
    return any_env


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("+971 50-123 4567", "Sara Ahmed"),
        ("00971501234567", "Sara Ahmed"),
        ("971501234567", "Sara Ahmed"),
        ("0501234567", "Sara Ahmed"),  # national, read in DEFAULT_PHONE_REGION=AE
        ("234567", "Sara Ahmed"),  # six trailing digits
        ("(612) 345-678", "José Álvarez"),
        ("+44 7700 900123", "Omar Saleh"),
    ],
    ids=["e164_spaced", "00_prefix", "no_plus", "national", "trailing_6", "punctuation", "uk"],
)
async def test_phone_in_any_notation_finds_the_contact(
    people: StoreEnv, query: str, expected: str
) -> None:
    assert await names(people, query) == [expected]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sara.ahmed@example.com", ["Sara Ahmed"]),
        ("SARA.AHMED@EXAMPLE.COM", ["Sara Ahmed"]),
        ("sara.ahmed", ["Sara Ahmed"]),  # the part before @
        ("fatima", ["فاطمة الزهراء"]),
        ("omar@", ["Omar Saleh"]),
    ],
    ids=["full", "upper_case", "local_part", "local_part_non_latin_name", "local_with_at"],
)
async def test_email_case_insensitive_full_or_local_part(
    people: StoreEnv, query: str, expected: list[str]
) -> None:
    assert await names(people, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sa", ["Omar Saleh", "Sara Ahmed"]),
        ("SAR", ["Sara Ahmed"]),
        ("ahm", ["Sara Ahmed"]),  # last name prefix
        ("sara ah", ["Sara Ahmed"]),  # full name prefix
        ("jose", ["José Álvarez"]),  # accents fold
        ("JOSÉ ÁLV", ["José Álvarez"]),
        ("alvarez", ["José Álvarez"]),
        ("احمد", ["أحمد إبراهيم"]),  # أ → ا
        ("ابراهيم", ["أحمد إبراهيم"]),  # إ → ا
        ("فاطمه", ["فاطمة الزهراء"]),  # ة → ه
        ("فَاطِمَة", ["فاطمة الزهراء"]),  # diacritics dropped
        ("فـاطـمـة", ["فاطمة الزهراء"]),  # tatweel dropped
        ("zz", []),
    ],
    ids=[
        "two_chars",
        "case",
        "last_name",
        "full_name",
        "accent_fold",
        "accent_fold_upper",
        "last_accented",
        "arabic_hamza",
        "arabic_hamza_below",
        "arabic_ta_marbuta",
        "arabic_diacritics",
        "arabic_tatweel",
        "no_match",
    ],
)
async def test_name_prefix_unicode_and_folding(
    people: StoreEnv, query: str, expected: list[str]
) -> None:
    assert sorted(await names(people, query)) == expected


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("", "search.empty_query"),
        ("s", "search.query_too_short"),
        ("12345", "search.phone_too_short"),
    ],
    ids=["empty", "one_letter", "five_digits"],
)
async def test_bad_queries_say_why(env: StoreEnv, query: str, key: str) -> None:
    with pytest.raises(QueryError) as err:
        await env.search.search(query, ANY)
    assert err.value.key == key


async def test_scope_and_status_filters(any_env: StoreEnv, now: datetime) -> None:
    ids = {}
    for first, agent, status in [
        ("Maya", "U_ME", ConversationStatus.CLOSED),
        ("Mark", "U_ME", ConversationStatus.OPEN),
        ("Mona", "U_OTHER", ConversationStatus.CLOSED),
        ("Milo", None, ConversationStatus.OPEN),
    ]:
        result = await any_env.contacts.create(
            ContactDraft(first_name=first, last_name="Test", assignee=agent, status=status), now
        )
        ids[first] = result.contact_id

    async def found(**kw: object) -> set[str]:
        page = await any_env.search.search("test", SearchFilters(**kw), limit=50)  # type: ignore[arg-type]
        return {c.first_name for c in page.contacts}

    assert await found(status=ConversationStatus.CLOSED) == {"Maya", "Mona"}
    assert await found(status=ConversationStatus.OPEN) == {"Mark", "Milo"}
    assert await found(status=None) == {"Maya", "Mark", "Mona", "Milo"}
    assert await found(scope=Scope.MINE, agent="U_ME", status=None) == {"Maya", "Mark"}
    assert await found(scope=Scope.MINE, agent="U_ME", status=ConversationStatus.CLOSED) == {"Maya"}
    # Every agent may search all inboxes: another agent's contact is found there.
    assert "Mona" in await found(scope=Scope.ALL, agent="U_ME", status=None)


async def test_sorted_by_latest_customer_message_or_by_name(
    any_env: StoreEnv, now: datetime
) -> None:
    for i, first in enumerate(["Bella", "Anna", "Carla"]):
        await any_env.contacts.create(
            ContactDraft(
                first_name=first,
                last_name="Lopez",
                identities={Channel.TELEGRAM: f"t{i}"},
                last_inbound_at={Channel.TELEGRAM: now - timedelta(hours=[2, 1, 3][i])},
            ),
            now,
        )
    recent = await names(any_env, "lopez")
    assert recent == ["Anna Lopez", "Bella Lopez", "Carla Lopez"]  # 1 h, 2 h, 3 h ago
    by_name = await names(any_env, "lopez", SearchFilters(status=None, sort=SortOrder.NAME))
    assert by_name == ["Anna Lopez", "Bella Lopez", "Carla Lopez"]
    # An inbound message moves Carla to the top of "most recent".
    carla = await any_env.contacts.find_by_identity(Channel.TELEGRAM, "t2")
    assert carla is not None
    await any_env.contacts.record_inbound(carla.id, Channel.TELEGRAM, now, now)
    assert (await names(any_env, "lopez"))[0] == "Carla Lopez"


async def test_pages_cover_every_match_once(any_env: StoreEnv, now: datetime) -> None:
    drafts = [
        ContactDraft(
            first_name=f"Nadia{i:02d}",
            last_name="Page",
            identities={Channel.WEBCHAT: f"v{i}"},
            last_inbound_at={Channel.WEBCHAT: now - timedelta(minutes=i)},
        )
        for i in range(25)
    ]
    await any_env.contacts.create_many(drafts, now)
    seen: list[str] = []
    offset: int | None = 0
    sizes = []
    while offset is not None:
        page = await any_env.search.search("nadia", ANY, offset=offset, limit=10)
        sizes.append(len(page.contacts))
        seen += [c.first_name for c in page.contacts]
        offset = page.next_offset
    assert sizes == [10, 10, 5]
    assert seen == [f"Nadia{i:02d}" for i in range(25)]


@pytest.mark.parametrize("sort", list(SortOrder), ids=[s.value for s in SortOrder])
async def test_many_matches_walk_in_order_within_budget(
    any_env: StoreEnv, now: datetime, sort: SortOrder
) -> None:
    """Past the budget, results come from walking the status set newest first."""
    drafts = [
        ContactDraft(
            first_name="Sam",
            last_name=f"W{i:03d}",
            identities={Channel.LINE: f"l{i}"},
            last_inbound_at={Channel.LINE: now - timedelta(minutes=i)},
        )
        for i in range(120)
    ]
    await any_env.contacts.create_many(drafts, now)
    small = ContactSearch(any_env.contacts, "AE", partition_budget=8)
    page = await small.search("sam", SearchFilters(status=None, sort=sort), limit=5)
    if sort is SortOrder.RECENT:
        # Exact: walking newest first finds the newest matches.
        assert [c.last_name for c in page.contacts] == [f"W{i:03d}" for i in range(5)]
    else:
        assert page.truncated
        keys = [c.last_name for c in page.contacts]
        assert keys == sorted(keys) and len(keys) == 5
    assert page.total == 120


@pytest.mark.parametrize(
    ("change", "old_query", "new_query"),
    [
        ({"first_name": "Layla"}, "sara", "layla"),
        ({"last_name": "Hassan"}, "ahmed", "hassan"),
        ({"phone": "+971559876543"}, "0501234567", "0559876543"),
        ({"email": "layla@example.org"}, "s.ahmed@example.com", "layla@example.org"),
    ],
    ids=["rename_first", "rename_last", "new_phone", "new_email"],
)
async def test_changes_leave_nothing_findable_under_old_values(
    any_env: StoreEnv, now: datetime, change: dict[str, str], old_query: str, new_query: str
) -> None:
    created = await any_env.contacts.create(
        ContactDraft(
            first_name="Sara", last_name="Ahmed", email="s.ahmed@example.com", phone="+971501234567"
        ),
        now,
    )
    await any_env.contacts.update_details(created.contact_id, **change)  # type: ignore[arg-type]
    assert await names(any_env, old_query) == []
    assert len(await names(any_env, new_query)) == 1


async def test_deleted_contact_is_not_found(any_env: StoreEnv, now: datetime) -> None:
    created = await any_env.contacts.create(
        ContactDraft(first_name="Gone", phone="+971501111111"), now
    )
    await any_env.contacts.delete(created.contact_id)
    assert await names(any_env, "gone") == []
    assert await names(any_env, "0501111111") == []


def test_every_shortest_query_fits_in_one_bucket() -> None:
    """A query as short as allowed still names exactly one index bucket."""
    from bot.domain.contacts import MIN_EMAIL_QUERY, MIN_PHONE_DIGITS, MIN_TEXT_QUERY, TermKind
    from bot.store.keys import BUCKET_CHARS

    assert BUCKET_CHARS[TermKind.NAME] <= MIN_TEXT_QUERY
    assert BUCKET_CHARS[TermKind.EMAIL] <= min(MIN_EMAIL_QUERY, MIN_TEXT_QUERY + 1)  # "sa" → "sa@"
    assert BUCKET_CHARS[TermKind.PHONE] <= MIN_PHONE_DIGITS


@pytest.mark.parametrize("sort", list(SortOrder), ids=[s.value for s in SortOrder])
async def test_page_held_by_one_partition_is_still_exact(
    any_env: StoreEnv, now: datetime, sort: SortOrder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Partitions are first asked for a share of the page; one that holds more is asked again."""
    monkeypatch.setattr(type(any_env.keys), "home_partition", lambda self, key: 3)
    drafts = [
        ContactDraft(
            first_name="Rania",
            last_name=f"P{i:02d}",
            identities={Channel.VIBER: f"vp{i}"},
            last_inbound_at={Channel.VIBER: now - timedelta(minutes=i)},
        )
        for i in range(30)
    ]
    await any_env.contacts.create_many(drafts, now)
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = await any_env.search.search(
            "rania", SearchFilters(status=None, sort=sort), offset=offset
        )
        assert all(c.id.startswith("3-") for c in page.contacts)
        seen += [c.last_name for c in page.contacts]
        offset = page.next_offset
    assert seen == [f"P{i:02d}" for i in range(30)]
