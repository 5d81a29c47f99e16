"""Searches answered with their contacts, and several searches in one round trip."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.domain.channels import Channel
from bot.domain.contacts import QueryError, TermKind, parse_query
from bot.domain.models import ConversationStatus
from bot.store.connection import pipelined
from bot.store.contacts import ContactDraft, contact_from_hash
from bot.store.keys import RECENCY_CHARS
from bot.store.search import MAX_ROWS, Scope, SearchFilters, SearchPage
from tests.conftest import StoreEnv
from tests.round_trips import RoundTrips

ANY = SearchFilters(status=None)


@pytest.fixture
async def many(any_env: StoreEnv, now: datetime) -> StoreEnv:
    """Forty Haddads, a Karim, and a Sara with every detail."""
    for i in range(40):
        draft = ContactDraft(
            first_name=f"Nour{i:02d}",
            last_name="Haddad",
            email=f"nour{i}@example.com",
            identities={Channel.TELEGRAM: str(1000 + i)},
            last_inbound_at={Channel.TELEGRAM: now - timedelta(minutes=i)},
        )
        await any_env.contacts.create(draft, now)
    await any_env.contacts.create(ContactDraft(first_name="Karim", last_name="Nassar"), now)
    await any_env.contacts.create(
        ContactDraft(
            first_name="Sara",
            last_name="Ahmed",
            email="sara@example.com",
            phone="+971501234567",
            identities={Channel.WHATSAPP: "971501234567", Channel.TELEGRAM: "55"},
            last_inbound_at={Channel.WHATSAPP: now - timedelta(hours=3)},
        ),
        now,
    )
    return any_env


async def test_the_page_s_contacts_come_with_the_search_as_stored(
    many: StoreEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = RoundTrips(many, monkeypatch)
    page = await many.search.search("sara", ANY, limit=5)
    assert counter.count == 1  # no second round trip for the contacts
    [sara] = page.contacts
    assert sara == await many.contacts.get(sara.id)  # every field, as stored


async def test_a_page_of_many_is_the_newest_with_their_details(many: StoreEnv) -> None:
    page = await many.search.search("haddad", ANY, limit=5)
    assert [c.first_name for c in page.contacts] == [f"Nour{i:02d}" for i in range(5)]
    assert page.contacts == await many.contacts.get_many([c.id for c in page.contacts])
    assert page.next_offset == 5


async def test_a_page_past_the_rows_sent_along_reads_its_contacts(many: StoreEnv) -> None:
    offset = MAX_ROWS  # offset + limit > MAX_ROWS: the contacts are read apart
    page = await many.search.search("haddad", ANY, offset=offset, limit=5)
    expected = [f"Nour{i:02d}" for i in range(offset, offset + 5)]
    assert [c.first_name for c in page.contacts] == expected
    assert page.contacts == await many.contacts.get_many([c.id for c in page.contacts])


async def test_several_searches_answer_as_each_alone_in_one_round_trip(
    many: StoreEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = ["karim nassar", "karim", "haddad", "+971 50 123 4567", "x", "nobody"]
    alone: list[SearchPage | QueryError] = []
    for text in texts:
        try:
            alone.append(await many.search.search(text, ANY, limit=5))
        except QueryError as error:
            alone.append(error)
    counter = RoundTrips(many, monkeypatch)
    together = await many.search.search_many(texts, ANY, limit=5)
    assert counter.count == 1
    assert len(together) == len(texts)
    for mine, single in zip(together, alone, strict=True):
        if isinstance(single, QueryError):
            assert isinstance(mine, QueryError) and mine.key == single.key
        else:
            assert isinstance(mine, SearchPage)
            assert mine.contacts == single.contacts
            assert (mine.next_offset, mine.total, mine.truncated) == (
                single.next_offset,
                single.total,
                single.truncated,
            )


async def test_only_bad_queries_ask_nothing_of_redis(
    many: StoreEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = RoundTrips(many, monkeypatch)
    [answer] = await many.search.search_many(["x"], ANY)
    assert isinstance(answer, QueryError) and answer.key == "search.query_too_short"
    assert counter.count == 0


async def test_the_script_sends_the_best_rows_whole(many: StoreEnv) -> None:
    """search.lua returns the first `rows` matches' hashes, in the matches' order."""
    await many.search.search("nour", ANY)  # loads the scripts
    query = parse_query("haddad", None)
    statuses = list(ConversationStatus)
    plan = many.search._plan(query, ANY, statuses, need=6, rows=2)
    for p in range(many.keys.partitions):
        [reply] = await pipelined(many.redis, [many.search._command(p, plan, ANY)])
        pairs = reply[4:]
        hashes = reply[3]
        assert len(hashes) == min(2, len(pairs) // 2)
        for i, row in enumerate(hashes):
            cid = f"{p}-{pairs[2 * i]}"
            sent = contact_from_hash(cid, dict(zip(row[::2], row[1::2], strict=True)))
            assert sent == await many.contacts.get(cid)


@pytest.mark.parametrize("text", ["haddad", "nour haddad", "sa", "+971501234567", "sara@ex"])
@pytest.mark.parametrize(
    "filters",
    [
        ANY,
        SearchFilters(status=ConversationStatus.CLOSED),
        SearchFilters(status=None, scope=Scope.MINE, agent="U1"),
    ],
)
def test_each_partition_reads_the_buckets_keys_py_names(
    any_env: StoreEnv, text: str, filters: SearchFilters
) -> None:
    """The plan names its buckets once, without a partition; each partition's command
    reads exactly the keys `Keys` names for it: every term's index bucket, then each
    long enough name term's recency buckets (one per status asked), then my inbox."""
    search, keys = any_env.search, any_env.keys
    query = parse_query(text, None)
    statuses = [filters.status] if filters.status else list(ConversationStatus)
    plan = search._plan(query, filters, statuses, need=6, rows=2)
    for p in range(keys.partitions):
        expected = [keys.index_bucket(p, kind, term) for kind, term in query.prefixes]
        for kind, term in query.prefixes:
            if kind is TermKind.NAME and len(term) >= RECENCY_CHARS:
                expected += [keys.recency_bucket(p, status, term) for status in statuses]
        if filters.scope is Scope.MINE:
            expected.append(keys.inbox_set(p, "U1"))
        command = search._command(p, plan, filters)
        assert command[2] == len(expected)
        assert list(command[3 : 3 + len(expected)]) == expected
        assert all(key.startswith(keys.tag(p)) for key in expected)
