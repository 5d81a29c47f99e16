"""Contacts and their conversation in Redis, with their search index entries.

A contact is one hash (`fu:{p3}:c:<local>`) that holds the contact, its
conversation and the exact index terms it is findable by (`tx`), so that any
change removes precisely what was indexed. Every write is one `apply.lua`
call on the contact's partition: the record, its index buckets and its
status and inbox sets change together or not at all.

Merging two contacts (`merge`) spans two partitions, which may be two
Cluster slots: no one script covers both. It is three single-partition
steps, each atomic, and resumable from any point:

1. intent, on the merged contact M: `mg` = the survivor S, `mgs` = pending,
   and M in its partition's `merging` set. From here `apply.lua` refuses
   every write to M but a merge step ({"merged", S}): writers go to S, so
   M cannot change under the merge.
2. absorb, on S: every identity and handle of M, its name, phone or e-mail
   where S has none, the latest customer message per channel (and its
   window, WeChat count and reachability), the open conversation and its
   thread if S's is closed; `mf` records M and the version absorbed, so the
   step is done once (an identity both hold on one channel is refused
   before step 1: it would be lost).
3. tombstone, on M: its index entries and set memberships go, `mgs` =
   done, out of `merging`. The hash stays as a redirect: its id, its thread
   links (`threads`, found by `find_by_thread`), its outbox messages and
   their history keep resolving to S (`get`, `get_many`, `_mutate` follow
   `mg`).

A crash leaves M pending: `resume_merges` (and any read of M) finishes it.
Before step 3 both contacts answer to M's identities; lookups take either
and land on S.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from bot.domain.channels import Channel
from bot.domain.contacts import (
    ContactTerms,
    IndexTerm,
    TermKind,
    contact_terms,
    identity_term,
    reversed_digits,
)
from bot.domain.models import (
    Contact,
    Conversation,
    ConversationStatus,
    from_epoch,
    to_epoch,
)
from bot.domain.reachability import LearnedLimit, Unreachable, UnreachableReason, event_applies
from bot.domain.windows import free_text_closes_at
from bot.store.connection import RedisClient
from bot.store.keys import ContactId, Keys
from bot.store.scripts import APPLY, ApplyResult, Change, apply_change, parse_apply

# Field names of the contact hash (short: a million contacts share them).
F_FIRST, F_LAST, F_EMAIL, F_PHONE = "fn", "ln", "em", "ph"
F_STATUS, F_ASSIGNEE, F_LAST_INBOUND, F_TERMS = "st", "as", "li", "tx"
F_VERSION, F_THREAD, F_PREV_THREAD = "v", "th", "pth"
F_WECHAT_COUNT, F_WECHAT_WINDOW = "wc", "wcw"
F_WECHAT_LEARNED = "wl"  # what WeChat refused in a window: "spent:<start>" / "closed:<start>"
F_CLOSED_REASON, F_CLOSED_AT, F_OPENED_AT = "cr", "ca", "oa"
F_EMAIL_THREAD_ID, F_EMAIL_SUBJECT = "emid", "esub"  # the customer's last e-mail
# Merges (see the module docstring): merged into, its state, merged from.
F_MERGED_INTO, F_MERGE_STATE, F_MERGED_FROM = "mg", "mgs", "mf"
MERGE_PENDING, MERGE_DONE = "pending", "done"
#: How many redirects a read follows (a merged contact's survivor merged too).
MAX_REDIRECTS = 8
IDENTITY_FIELD = "i:"
HANDLE_FIELD = "h:"
INBOUND_FIELD = "li:"
#: `u:<channel>`: the identity is unreachable: reason, since (epoch s), detail.
UNREACHABLE_FIELD = "u:"
#: `ur:<channel>`: the time (epoch s) of the newest reachability event recorded
#: there, either way: an older one arriving late changes nothing.
REACH_AT_FIELD = "ur:"
UNIT_SEP = "\x1f"
_REASONS = {reason.value: reason for reason in UnreachableReason}
#: What WeChat can refuse a window with: its count spent (45047), closed (45015).
WECHAT_LEARNED_KINDS = frozenset(
    {LearnedLimit.WECHAT_COUNT_SPENT.value, LearnedLimit.WECHAT_WINDOW_CLOSED.value}
)
TERM_SEP = "\x1e"  # record separator: never part of a folded term
_CHANNELS = {channel.value: channel for channel in Channel}  # faster than Channel(value)

Builder = Callable[[Contact, tuple[IndexTerm, ...], Change], bool]

#: How long a customer message id is remembered against repeated deliveries.
INBOUND_SEEN_SECONDS = 7 * 24 * 3600
#: Commands per pipeline when looking many terms up.
LOOKUP_PIPELINE = 2000
#: How many times a read-decide-commit cycle is retried when the record moved.
MAX_ATTEMPTS = 16


class ContactNotFound(LookupError):
    def __init__(self, contact_id: str) -> None:
        super().__init__(contact_id)
        self.contact_id = contact_id


class ConcurrentUpdate(RuntimeError):
    """The record kept changing under us; the caller may try again later."""


@dataclass(frozen=True)
class ContactDraft:
    """A contact to create or the new values of one (normalised already)."""

    first_name: str = ""
    last_name: str = ""
    email: str | None = None
    phone: str | None = None
    identities: Mapping[Channel, str] = field(default_factory=dict)
    handles: Mapping[Channel, str] = field(default_factory=dict)
    status: ConversationStatus = ConversationStatus.CLOSED
    assignee: str | None = None
    last_inbound_at: Mapping[Channel, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # E-mail is case-insensitive: store and index it lower-cased.
        if self.email is not None:
            object.__setattr__(self, "email", self.email.strip().lower() or None)

    def natural_key(self) -> str:
        """What decides a new contact's partition: phone, e-mail, identity, name."""
        if self.phone:
            return f"phone:{self.phone}"
        if self.email:
            return f"email:{self.email}"
        for channel, identity in sorted(self.identities.items()):
            return f"identity:{identity_term(channel, identity)}"
        return f"name:{self.first_name}\x00{self.last_name}"

    def terms(self) -> ContactTerms:
        return contact_terms(
            first_name=self.first_name,
            last_name=self.last_name,
            email=self.email,
            phone=self.phone,
            identities=dict(self.identities),
            handles=dict(self.handles),
        )


@dataclass(frozen=True)
class CreateResult:
    contact_id: str
    created: bool


@dataclass(frozen=True)
class OpenAssigned:
    """Open, assigned conversations: (assignee, contact id) pairs, and how many in all."""

    pairs: tuple[tuple[str, str], ...]
    total: int


def open_member(assignee: str, local: str) -> str:
    """A member of `keys.open_assigned`: the agent first, so each agent's are a range."""
    return f"{assignee}\x00{local}"


def window_member(local: str, channel: Channel, window_start: datetime) -> str:
    """A member of `keys.window_alerts`: which window, and the start it was indexed at."""
    return f"{local}|{channel.value}|{to_epoch(window_start)}"


def parse_window_member(member: str) -> tuple[str, Channel, int] | None:
    """(local, channel, window start epoch) of a window-alert member; None if malformed."""
    parts = member.split("|")
    if len(parts) != 3:
        return None
    local, channel, start = parts
    if channel not in _CHANNELS or not start.isdigit() or not local:
        return None
    return local, _CHANNELS[channel], int(start)


def encode_terms(terms: Iterable[IndexTerm]) -> str:
    """`tx`: the indexed name terms, each after a separator, the full name first.

    Only name terms are stored: how a name folds may change between
    versions, so what was indexed must be remembered. E-mail, phone and
    identity terms are the stored fields themselves (see `indexed_terms`).
    The full name first doubles as the name sort key.
    """
    return "".join(f"{TERM_SEP}{t.kind.value}{t.term}" for t in terms if t.kind is TermKind.NAME)


def indexed_terms(contact: Contact) -> tuple[IndexTerm, ...]:
    """Every term a stored contact is indexed under: its stored name terms and
    the terms its stored e-mail, phone and identities make."""
    return tuple(IndexTerm(TermKind(kind), term) for kind, term in contact.index_terms)


def encode_unreachable(unreachable: Unreachable) -> str:
    """The stored `u:<channel>` value: reason, since and detail."""
    return UNIT_SEP.join(
        (unreachable.reason.value, str(to_epoch(unreachable.since)), unreachable.detail)
    )


def decode_unreachable(value: str) -> Unreachable | None:
    """A stored `u:<channel>` value; None when it is not one this version knows."""
    reason, _, rest = value.partition(UNIT_SEP)
    since, _, detail = rest.partition(UNIT_SEP)
    if reason not in _REASONS or not since.isdigit():
        return None
    at = from_epoch(since)
    return Unreachable(_REASONS[reason], at, detail) if at is not None else None


def parse_wechat_learned(value: str | None) -> tuple[str | None, int | None]:
    """`wl`: (what WeChat refused, the window start it applies to), or (None, None)."""
    kind, _, start = (value or "").partition(":")
    if kind not in WECHAT_LEARNED_KINDS or not start.isdigit():
        return None, None
    return kind, int(start)


def contact_from_hash(contact_id: str, data: Mapping[str, str]) -> Contact:
    """Build a Contact from its stored hash."""
    identities: dict[Channel, str] = {}
    handles: dict[Channel, str] = {}
    inbound: dict[Channel, datetime] = {}
    reachability: dict[Channel, Unreachable] = {}
    reachability_at: dict[Channel, datetime] = {}
    for name, value in data.items():
        if name.startswith(IDENTITY_FIELD):
            identities[_CHANNELS[name[2:]]] = value
        elif name.startswith(HANDLE_FIELD):
            handles[_CHANNELS[name[2:]]] = value
        elif name.startswith(INBOUND_FIELD):
            at = from_epoch(value)
            if at is not None:
                inbound[_CHANNELS[name[3:]]] = at
        elif name.startswith(UNREACHABLE_FIELD) and name[2:] in _CHANNELS:
            unreachable = decode_unreachable(value)
            if unreachable is not None:
                reachability[_CHANNELS[name[2:]]] = unreachable
        elif name.startswith(REACH_AT_FIELD) and name[3:] in _CHANNELS:
            at = from_epoch(value)
            if at is not None:
                reachability_at[_CHANNELS[name[3:]]] = at
    window = data.get(F_WECHAT_WINDOW)
    learned, learned_window = parse_wechat_learned(data.get(F_WECHAT_LEARNED))
    conversation = Conversation(
        status=ConversationStatus(data.get(F_STATUS, ConversationStatus.CLOSED.value)),
        assignee=data.get(F_ASSIGNEE) or None,
        thread_ts=data.get(F_THREAD) or None,
        previous_thread_ts=data.get(F_PREV_THREAD) or None,
        last_inbound_at=inbound,
        wechat_outbound=int(data.get(F_WECHAT_COUNT) or 0),
        wechat_window_start=int(window) if window else None,
        closed_reason=data.get(F_CLOSED_REASON) or None,
        closed_at=from_epoch(data.get(F_CLOSED_AT)),
        opened_at=from_epoch(data.get(F_OPENED_AT)),
        wechat_learned=learned,
        wechat_learned_window=learned_window,
    )
    return Contact(
        id=contact_id,
        first_name=data.get(F_FIRST, ""),
        last_name=data.get(F_LAST, ""),
        email=data.get(F_EMAIL) or None,
        phone=data.get(F_PHONE) or None,
        identities=identities,
        conversation=conversation,
        version=int(data.get(F_VERSION) or 0),
        indexed=data.get(F_TERMS, ""),
        email_thread_id=data.get(F_EMAIL_THREAD_ID) or None,
        email_subject=data.get(F_EMAIL_SUBJECT, ""),
        reachability=reachability,
        reachability_at=reachability_at,
        handles=handles,
        merged_from=tuple(merged_from(data.get(F_MERGED_FROM, ""))),
    )


def sort_score(contact_inbound: Mapping[Channel, datetime]) -> int:
    """The sets' score: the customer's last message on any channel (0: never)."""
    return max((to_epoch(at) for at in contact_inbound.values()), default=0)


class ContactStore:
    """Repository of contacts and conversations (one Redis or a Cluster)."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    # --- reading -------------------------------------------------------------

    async def get(self, contact_id: str) -> Contact | None:
        """The contact, or the one it was merged into (its id then differs)."""
        for _ in range(MAX_REDIRECTS):
            cid = ContactId.parse(contact_id)
            data = cast(dict[str, str], await self.redis.hgetall(self.keys.contact(cid)))
            if not data:
                return None
            into = await self._redirect(contact_id, data)
            if into is None:
                return contact_from_hash(contact_id, data)
            contact_id = into
        raise ConcurrentUpdate(contact_id)

    async def _redirect(self, contact_id: str, data: Mapping[str, str]) -> str | None:
        """Where a merged contact's record now lives (its merge finished first); None
        for a contact that was not merged."""
        into = data.get(F_MERGED_INTO)
        if not into:
            return None
        if data.get(F_MERGE_STATE) != MERGE_DONE:
            survivor = await self.finish_merge(contact_id)
            return survivor.id if survivor.id != contact_id else None
        return into

    async def require(self, contact_id: str) -> Contact:
        contact = await self.get(contact_id)
        if contact is None:
            raise ContactNotFound(contact_id)
        return contact

    async def get_many(self, contact_ids: Sequence[str]) -> list[Contact]:
        """Contacts in the given order; ids that no longer exist are skipped."""
        if not contact_ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for contact_id in contact_ids:
            pipe.hgetall(self.keys.contact(ContactId.parse(contact_id)))
        rows: list[dict[str, str]] = await pipe.execute()
        found: list[Contact] = []
        seen: set[str] = set()
        for contact_id, row in zip(contact_ids, rows, strict=True):
            if not row:
                continue
            contact: Contact | None
            if F_MERGED_INTO in row:  # rare: a merged contact, read as its survivor
                contact = await self.get(contact_id)
            else:
                contact = contact_from_hash(contact_id, row)
            if contact is not None and contact.id not in seen:
                seen.add(contact.id)
                found.append(contact)
        return found

    async def find_by_term(self, kind: TermKind, term: str) -> list[str]:
        """Ids of contacts that have exactly this index term, in any partition."""
        wanted = IndexTerm(kind, term)
        return (await self.find_holders([wanted]))[wanted]

    async def find_holders(self, terms: Collection[IndexTerm]) -> dict[IndexTerm, list[str]]:
        """Ids (sorted) of the contacts indexed under exactly each term, in any partition.

        Many terms in few pipelines: an import looks up thousands of rows, and
        a round trip per term would dominate.
        """
        queries = [(term, p) for term in terms for p in range(self.keys.partitions)]
        found: dict[IndexTerm, list[str]] = {term: [] for term in terms}
        for start in range(0, len(queries), LOOKUP_PIPELINE):
            chunk = queries[start : start + LOOKUP_PIPELINE]
            pipe = self.redis.pipeline(transaction=False)
            for term, p in chunk:
                bucket = self.keys.index_bucket(p, term.kind, term.term)
                pipe.zrangebylex(bucket, f"[{term.term}\x00", f"[{term.term}\x01")
            replies: list[list[str]] = await pipe.execute()
            for (term, p), members in zip(chunk, replies, strict=True):
                found[term] += [f"{p}-{member.rpartition(chr(0))[2]}" for member in members]
        return {term: sorted(ids) for term, ids in found.items()}

    async def find_by_identity(self, channel: Channel, identity: str) -> Contact | None:
        ids = await self.find_by_term(TermKind.IDENTITY, identity_term(channel, identity))
        contacts = await self.get_many(sorted(ids))
        return contacts[0] if contacts else None

    async def find_by_phone(self, e164: str) -> list[Contact]:
        return await self.get_many(
            sorted(await self.find_by_term(TermKind.PHONE, reversed_digits(e164)))
        )

    async def find_by_email(self, email: str) -> list[Contact]:
        return await self.get_many(sorted(await self.find_by_term(TermKind.EMAIL, email)))

    async def find_match(self, draft: ContactDraft) -> Contact | None:
        """The existing contact a draft belongs to: same identity, phone or e-mail."""
        for channel, identity in sorted(draft.identities.items()):
            found = await self.find_by_identity(channel, identity)
            if found is not None:
                return found
        if draft.phone:
            by_phone = await self.find_by_phone(draft.phone)
            if by_phone:
                return by_phone[0]
        if draft.email:
            by_email = await self.find_by_email(draft.email)
            if by_email:
                return by_email[0]
        return None

    async def open_assigned(self, agent: str | None = None, *, limit: int = 500) -> OpenAssigned:
        """Open conversations assigned to `agent` (None: to any agent), every partition.

        At most `limit` per partition are listed; `total` counts them all.
        """
        pipe = self.redis.pipeline(transaction=False)
        low, high = ("-", "+") if agent is None else (f"[{agent}\x00", f"[{agent}\x01")
        for p in range(self.keys.partitions):
            key = self.keys.open_assigned(p)
            pipe.zrangebylex(key, low, high, 0, limit)
            pipe.zlexcount(key, low, high)
        replies: list[Any] = await pipe.execute()
        pairs: list[tuple[str, str]] = []
        total = 0
        for p in range(self.keys.partitions):
            members = cast(list[str], replies[2 * p])
            total += int(replies[2 * p + 1])
            for member in members:
                assignee, _, local = member.partition("\x00")
                pairs.append((assignee, f"{p}-{local}"))
        return OpenAssigned(tuple(pairs), total)

    # --- creating --------------------------------------------------------------

    def _create_change(self, cid: ContactId, draft: ContactDraft, now: datetime) -> Change:
        p = cid.partition
        terms = draft.terms()
        score = sort_score(draft.last_inbound_at)
        change = Change(self.keys.contact(cid)).must_exist(False)
        # Two creators of the same customer pick the same home partition; the
        # first one wins and the other joins it (see `create`).
        for term in terms.terms:
            if term.kind is not TermKind.NAME and term.kind is not TermKind.HANDLE:
                change.unique(self.keys.index_bucket(p, term.kind, term.term), term.term)
        fields = {
            F_FIRST: draft.first_name,
            F_LAST: draft.last_name,
            F_STATUS: draft.status.value,
            F_LAST_INBOUND: str(score),
            F_TERMS: encode_terms(terms.terms),
        }
        if draft.email:
            fields[F_EMAIL] = draft.email
        if draft.phone:
            fields[F_PHONE] = draft.phone
        if draft.assignee:
            fields[F_ASSIGNEE] = draft.assignee
        if draft.status is ConversationStatus.OPEN:
            fields[F_OPENED_AT] = str(to_epoch(now))
        for channel, identity in draft.identities.items():
            fields[IDENTITY_FIELD + channel.value] = identity
        for channel, handle in draft.handles.items():
            fields[HANDLE_FIELD + channel.value] = handle
        for channel, at in draft.last_inbound_at.items():
            fields[INBOUND_FIELD + channel.value] = str(to_epoch(at))
        change.hset(fields)
        for term in terms.terms:
            member = f"{term.term}\x00{cid.local}"
            change.zadd(self.keys.index_bucket(p, term.kind, term.term), 0, member)
            if term.kind is TermKind.NAME:
                change.zadd(self.keys.recency_bucket(p, draft.status, term.term), score, member)
        if draft.assignee:
            change.zadd(self.keys.inbox_set(p, draft.assignee), score, cid.local)
            if draft.status is ConversationStatus.OPEN:
                change.zadd(self.keys.open_assigned(p), 0, open_member(draft.assignee, cid.local))
        for channel, at in draft.last_inbound_at.items():
            self._index_window(change, cid, channel, None, at, now)
        return change

    async def _reserve_ids(self, partitions: Sequence[int]) -> list[ContactId]:
        counts: dict[int, int] = {}
        for p in partitions:
            counts[p] = counts.get(p, 0) + 1
        pipe = self.redis.pipeline(transaction=False)
        order = sorted(counts)
        for p in order:
            pipe.incrby(self.keys.sequence(p), counts[p])
        tops: list[int] = await pipe.execute()
        next_id = {p: top - counts[p] + 1 for p, top in zip(order, tops, strict=True)}
        ids = []
        for p in partitions:
            ids.append(ContactId(p, format(next_id[p], "x")))
            next_id[p] += 1
        return ids

    async def create(self, draft: ContactDraft, now: datetime) -> CreateResult:
        """Create a contact in its home partition, or return the one it joins."""
        results = await self.create_many([draft], now)
        return results[0]

    async def create_many(
        self, drafts: Sequence[ContactDraft], now: datetime
    ) -> list[CreateResult]:
        """Create contacts in one pipeline (import, benchmark); duplicates join.

        A draft whose phone, e-mail or identity is already taken in its home
        partition is not created: its result names the contact that holds it.
        """
        partitions = [self.keys.home_partition(d.natural_key()) for d in drafts]
        ids = await self._reserve_ids(partitions)
        pipe = self.redis.pipeline(transaction=False)
        for cid, draft in zip(ids, drafts, strict=True):
            change = self._create_change(cid, draft, now)
            APPLY.queue(pipe, change.keys, change.argv())
        replies = await pipe.execute()  # every connection has the scripts (connection.py)
        results: list[CreateResult] = []
        for cid, reply in zip(ids, replies, strict=True):
            result = parse_apply(reply)
            if result.ok:
                results.append(CreateResult(str(cid), True))
            elif result.outcome == "taken":
                results.append(
                    CreateResult(f"{cid.partition}-{result.detail.rpartition(chr(0))[2]}", False)
                )
            else:
                raise ConcurrentUpdate(f"create {cid}: {result.outcome}")
        return results

    # --- changing ----------------------------------------------------------------

    async def _mutate(self, contact_id: str, build: Builder) -> Contact:
        """Read, let `build` add to the change, commit if nothing moved; retry.

        `build(contact, indexed_terms, change)` returns False for "nothing to do".
        """
        cid = ContactId.parse(contact_id)
        key = self.keys.contact(cid)
        for _ in range(MAX_ATTEMPTS):
            data = cast(dict[str, str], await self.redis.hgetall(key))
            if not data:
                raise ContactNotFound(contact_id)
            into = await self._redirect(contact_id, data)
            if into is not None:  # merged: the change is the survivor's
                contact_id, cid = into, ContactId.parse(into)
                key = self.keys.contact(cid)
                continue
            contact = contact_from_hash(contact_id, data)
            change = Change(key).must_exist(True)
            change.expect(F_VERSION, data.get(F_VERSION))
            if not build(contact, indexed_terms(contact), change):
                return contact
            result = await apply_change(self.redis, change)
            if result.ok:
                return await self.require(contact_id)
            if result.outcome == "missing":
                raise ContactNotFound(contact_id)
            if result.outcome == "taken":
                raise IdentityTaken(result.detail.partition("\x00")[0])
            if result.outcome == "duplicate":
                raise DuplicateDelivery(contact_id)
            await asyncio.sleep(0)  # moved, or merged meanwhile: read again
        raise ConcurrentUpdate(contact_id)

    def _reindex(
        self,
        change: Change,
        cid: ContactId,
        old: Contact,
        indexed: tuple[IndexTerm, ...],
        draft: ContactDraft,
        shared: Collection[IndexTerm] = (),
    ) -> None:
        """Swap the indexed terms for the new ones and rewrite the fields.

        `shared`: terms another contact holds that this one may take too (a
        merge: the merged contact's, until its tombstone step)."""
        p = cid.partition
        old_terms = set(indexed)
        new = draft.terms()
        score = sort_score(old.conversation.last_inbound_at)
        for term in old_terms - set(new.terms):
            self._unindex(change, cid, term)
        for term in set(new.terms) - old_terms:
            bucket = self.keys.index_bucket(p, term.kind, term.term)
            member = f"{term.term}\x00{cid.local}"
            if term.kind not in (TermKind.NAME, TermKind.HANDLE) and term not in shared:
                change.unique(bucket, term.term)
            change.zadd(bucket, 0, member)
            if term.kind is TermKind.NAME:
                status = old.conversation.status
                change.zadd(self.keys.recency_bucket(p, status, term.term), score, member)
        fields = {
            F_FIRST: draft.first_name,
            F_LAST: draft.last_name,
            F_TERMS: encode_terms(new.terms),
        }
        removed: list[str] = []
        for name, value in ((F_EMAIL, draft.email), (F_PHONE, draft.phone)):
            if value:
                fields[name] = value
            else:
                removed.append(name)
        for channel in Channel:
            name = IDENTITY_FIELD + channel.value
            if channel in draft.identities:
                fields[name] = draft.identities[channel]
            elif channel in old.identities:
                removed.append(name)
            name = HANDLE_FIELD + channel.value
            if channel in draft.handles:
                fields[name] = draft.handles[channel]
            elif channel in old.handles:
                removed.append(name)
        change.hset(fields)
        if removed:
            change.hdel(*removed)

    def _unindex(self, change: Change, cid: ContactId, term: IndexTerm) -> None:
        member = f"{term.term}\x00{cid.local}"
        change.zrem(self.keys.index_bucket(cid.partition, term.kind, term.term), member)
        if term.kind is TermKind.NAME:
            for status in ConversationStatus:
                change.zrem(self.keys.recency_bucket(cid.partition, status, term.term), member)

    async def update_details(
        self,
        contact_id: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        identities: Mapping[Channel, str] | None = None,
        handles: Mapping[Channel, str] | None = None,
        clear: Iterable[str] = (),
    ) -> Contact:
        """Change a contact's name, e-mail, phone, identities or handles (None: keep).

        `clear` names fields to empty (`email`, `phone`). Identities and
        handles given are added or replaced per channel (a handle is not
        unique: a username may pass to someone else). Nothing stays findable under the
        old values: the index swap commits with the record in one script.
        """
        cleared = set(clear)
        ContactId.parse(contact_id)
        # Another partition's contact may hold the value: look everywhere first
        # (the script re-checks the contact's own partition atomically).
        wanted: list[tuple[TermKind, str]] = []
        if email:
            wanted.append((TermKind.EMAIL, email))
        if phone:
            wanted.append((TermKind.PHONE, reversed_digits(phone)))
        for channel, identity in (identities or {}).items():
            wanted.append((TermKind.IDENTITY, identity_term(channel, identity)))
        for kind, term in wanted:
            holders = set(await self.find_by_term(kind, term)) - {contact_id}
            if holders:
                raise IdentityTaken(term)

        def build(contact: Contact, indexed: tuple[IndexTerm, ...], change: Change) -> bool:
            cid = ContactId.parse(contact.id)  # the survivor, after a merge
            merged = dict(contact.identities)
            merged.update(identities or {})
            named = dict(contact.handles)
            named.update(handles or {})
            draft = ContactDraft(
                first_name=contact.first_name if first_name is None else first_name,
                last_name=contact.last_name if last_name is None else last_name,
                email=None if "email" in cleared else (email or contact.email),
                phone=None if "phone" in cleared else (phone or contact.phone),
                identities=merged,
                handles=named,
            )
            if _same_details(contact, draft):
                return False
            self._reindex(change, cid, contact, indexed, draft)
            return True

        return await self._mutate(contact_id, build)

    async def delete(self, contact_id: str) -> None:
        """Remove a contact, its index entries and set memberships at once."""
        ContactId.parse(contact_id)

        def build(contact: Contact, indexed: tuple[IndexTerm, ...], change: Change) -> bool:
            cid = ContactId.parse(contact.id)  # the survivor, after a merge
            p = cid.partition
            for term in indexed:
                self._unindex(change, cid, term)
            conv = contact.conversation
            if conv.assignee:
                change.zrem(self.keys.inbox_set(p, conv.assignee), cid.local)
                change.zrem(self.keys.open_assigned(p), open_member(conv.assignee, cid.local))
            for channel, at in conv.last_inbound_at.items():
                self._index_window(change, cid, channel, at, None)
            change.delete(self.keys.contact(cid))
            return True

        try:
            await self._mutate(contact_id, build)
        except ContactNotFound:
            return

    # --- conversation ------------------------------------------------------------

    def _move(
        self,
        change: Change,
        cid: ContactId,
        contact: Contact,
        *,
        status: ConversationStatus,
        assignee: str | None,
        score: int,
    ) -> None:
        """Keep the status, inbox and recency sets in step with status/assignee/score."""
        p = cid.partition
        conv = contact.conversation
        change.expect(F_STATUS, conv.status.value)
        change.expect(F_ASSIGNEE, conv.assignee)
        if conv.assignee and conv.assignee != assignee:
            change.zrem(self.keys.inbox_set(p, conv.assignee), cid.local)
        if assignee:
            change.zadd(self.keys.inbox_set(p, assignee), score, cid.local)
        was_open = conv.assignee if conv.status is ConversationStatus.OPEN else None
        is_open = assignee if status is ConversationStatus.OPEN else None
        if was_open != is_open:
            if was_open:
                change.zrem(self.keys.open_assigned(p), open_member(was_open, cid.local))
            if is_open:
                change.zadd(self.keys.open_assigned(p), 0, open_member(is_open, cid.local))
        for kind, term in contact.index_terms:
            if kind != TermKind.NAME.value:
                continue
            member = f"{term}\x00{cid.local}"
            if status is not conv.status:
                change.zrem(self.keys.recency_bucket(p, conv.status, term), member)
            change.zadd(self.keys.recency_bucket(p, status, term), score, member)
        fields = {F_STATUS: status.value}
        if assignee:
            fields[F_ASSIGNEE] = assignee
        else:
            change.hdel(F_ASSIGNEE)
        change.hset(fields)

    def _index_window(
        self,
        change: Change,
        cid: ContactId,
        channel: Channel,
        old: datetime | None,
        new: datetime | None,
        now: datetime | None = None,
    ) -> None:
        """Keep the window-alert index on the window's current start (see `keys.window_alerts`).

        A window whose free text had already closed by `now` (an import, an old
        message) is not indexed: there is nothing left to warn about, and the
        sweep would only prune it (a million imported contacts would otherwise
        hold ~85 bytes each there).
        """
        key = self.keys.window_alerts(cid.partition)
        if old is not None and free_text_closes_at(channel, old) is not None:
            change.zrem(key, window_member(cid.local, channel, old))
        closes = free_text_closes_at(channel, new) if new is not None else None
        if new is not None and closes is not None and (now is None or closes > now):
            change.zadd(key, to_epoch(closes), window_member(cid.local, channel, new))

    def reopen_change(self, change: Change, contact: Contact, agent: str, now: datetime) -> None:
        """Add to `change`: open the conversation (if closed) and assign it to `agent`.

        Reopening starts a new open period: its thread will be a new one that
        links the previous (SPEC "Contacts, conversations and threads").
        """
        cid = ContactId.parse(contact.id)
        conv = contact.conversation
        score = sort_score(conv.last_inbound_at)
        self._move(
            change, cid, contact, status=ConversationStatus.OPEN, assignee=agent, score=score
        )
        if conv.status is ConversationStatus.CLOSED:
            fields = {F_OPENED_AT: str(to_epoch(now))}
            if conv.thread_ts:
                fields[F_PREV_THREAD] = conv.thread_ts
            change.hset(fields)
            change.hdel(F_THREAD, F_CLOSED_REASON, F_CLOSED_AT)

    async def reopen(self, contact_id: str, agent: str, now: datetime) -> Contact:
        """Open a closed conversation and assign it to the agent who reopens it."""

        def build(contact: Contact, _: tuple[IndexTerm, ...], change: Change) -> bool:
            conv = contact.conversation
            if conv.status is ConversationStatus.OPEN and conv.assignee == agent:
                return False
            self.reopen_change(change, contact, agent, now)
            return True

        return await self._mutate(contact_id, build)

    async def assign(self, contact_id: str, agent: str | None) -> Contact:
        """Assign (or, with None, unassign) without changing the status."""
        ContactId.parse(contact_id)

        def build(contact: Contact, _: tuple[IndexTerm, ...], change: Change) -> bool:
            cid = ContactId.parse(contact.id)  # the survivor, after a merge
            conv = contact.conversation
            if conv.assignee == agent:
                return False
            self._move(
                change,
                cid,
                contact,
                status=conv.status,
                assignee=agent,
                score=sort_score(conv.last_inbound_at),
            )
            return True

        return await self._mutate(contact_id, build)

    async def close(
        self, contact_id: str, now: datetime, *, unassign: bool, reason: str | None = None
    ) -> Contact:
        """Close the conversation; `unassign` is the company's CLOSE_UNASSIGNS."""
        ContactId.parse(contact_id)

        def build(contact: Contact, _: tuple[IndexTerm, ...], change: Change) -> bool:
            cid = ContactId.parse(contact.id)  # the survivor, after a merge
            conv = contact.conversation
            if conv.status is ConversationStatus.CLOSED and not (unassign and conv.assignee):
                return False
            self._move(
                change,
                cid,
                contact,
                status=ConversationStatus.CLOSED,
                assignee=None if unassign else conv.assignee,
                score=sort_score(conv.last_inbound_at),
            )
            fields = {F_CLOSED_AT: str(to_epoch(now))}
            if reason:
                fields[F_CLOSED_REASON] = reason
            change.hset(fields)
            return True

        return await self._mutate(contact_id, build)

    async def record_inbound(
        self,
        contact_id: str,
        channel: Channel,
        at: datetime,
        now: datetime,
        *,
        channel_message_id: str | None = None,
        email_thread: tuple[str, str] | None = None,
    ) -> Contact:
        """A customer message on `channel` at `at` (the channel's own time).

        Restarts that channel's window (and the WeChat counter, which counts
        per window start) and reopens a closed conversation, keeping its
        assignee. An older message than the one recorded changes no window.
        """
        ContactId.parse(contact_id)

        def build(contact: Contact, indexed: tuple[IndexTerm, ...], change: Change) -> bool:
            cid = ContactId.parse(contact.id)  # the survivor, after a merge
            conv = contact.conversation
            inbound = dict(conv.last_inbound_at)
            previous = inbound.get(channel)
            if previous is None or at > previous:
                inbound[channel] = at
                self._index_window(change, cid, channel, previous, at, now)
            score = sort_score(inbound)
            self._move(
                change,
                cid,
                contact,
                status=ConversationStatus.OPEN,
                assignee=conv.assignee,
                score=score,
            )
            change.hset(
                {
                    INBOUND_FIELD + channel.value: str(to_epoch(inbound[channel])),
                    F_LAST_INBOUND: str(score),
                }
            )
            if conv.status is ConversationStatus.CLOSED:
                fields = {F_OPENED_AT: str(to_epoch(now))}
                if conv.thread_ts:
                    fields[F_PREV_THREAD] = conv.thread_ts
                change.hset(fields)
                change.hdel(F_THREAD, F_CLOSED_REASON, F_CLOSED_AT)
            if email_thread is not None:
                # Follow-ups by e-mail reply under the customer's last message.
                message_id, subject = email_thread
                change.hset({F_EMAIL_THREAD_ID: message_id, F_EMAIL_SUBJECT: subject})
            if channel_message_id is not None:
                # A repeated delivery of the same message is processed once.
                seen = self.keys.inbound_seen(cid.partition, channel.value, channel_message_id)
                change.absent(seen).setex(seen, "1", INBOUND_SEEN_SECONDS)
            return True

        return await self._mutate(contact_id, build)

    async def set_state(
        self,
        contact_id: str,
        *,
        status: ConversationStatus | None = None,
        assignee: str | None = None,
        last_inbound_at: Mapping[Channel, datetime] | None = None,
        now: datetime | None = None,
    ) -> Contact:
        """Set status, assignee and last-message times as given (import).

        `now` (the import's time) leaves windows already closed by then out of
        the window-alert index.

        Unlike `record_inbound`, a time given here reopens nothing; a time
        older than the one stored is ignored, so re-running an import is a
        no-op. None leaves a value as it is.
        """
        ContactId.parse(contact_id)

        def build(contact: Contact, indexed: tuple[IndexTerm, ...], change: Change) -> bool:
            cid = ContactId.parse(contact.id)  # the survivor, after a merge
            conv = contact.conversation
            inbound = dict(conv.last_inbound_at)
            for channel, at in (last_inbound_at or {}).items():
                if channel not in inbound or at > inbound[channel]:
                    self._index_window(change, cid, channel, inbound.get(channel), at, now)
                    inbound[channel] = at
            new_status = status or conv.status
            new_assignee = assignee if assignee is not None else conv.assignee
            if (new_status, new_assignee, inbound) == (
                conv.status,
                conv.assignee,
                conv.last_inbound_at,
            ):
                return False
            score = sort_score(inbound)
            self._move(change, cid, contact, status=new_status, assignee=new_assignee, score=score)
            fields = {F_LAST_INBOUND: str(score)}
            for channel, at in inbound.items():
                fields[INBOUND_FIELD + channel.value] = str(to_epoch(at))
            change.hset(fields)
            return True

        return await self._mutate(contact_id, build)

    async def set_reachability(
        self,
        contact_id: str,
        channel: Channel,
        unreachable: Unreachable | None,
        *,
        at: datetime | None = None,
    ) -> tuple[Contact, bool]:
        """Record that `channel` is unreachable (or, with None, reachable again)
        by an event of time `at` (default: the unreachable's `since`; None
        for a reachable one is "no time": it applies).

        Returns the contact and whether anything changed: an event older than
        the newest recorded there changes nothing (`event_applies`: webhooks
        arrive out of order), an identity already unreachable for the same
        reason keeps its first `since`, and one already reachable stays as it
        is (both only move the newest event's time). Status, assignee and
        windows are untouched (a reachability event is not the customer
        writing). The check and the write commit together (the contact's
        version is expected).
        """
        event_at = at if at is not None else unreachable.since if unreachable else None
        changed = False

        def build(contact: Contact, _: tuple[IndexTerm, ...], change: Change) -> bool:
            nonlocal changed
            changed = False
            current = contact.unreachable(channel)
            recorded = contact.reachability_at.get(channel) or (current.since if current else None)
            if event_at is not None and not event_applies(event_at, recorded):
                return False  # stale: a newer event was recorded already
            name = UNREACHABLE_FIELD + channel.value
            fields: dict[str, str] = {}
            if event_at is not None and (
                recorded is None or to_epoch(event_at) > to_epoch(recorded)
            ):
                fields[REACH_AT_FIELD + channel.value] = str(to_epoch(event_at))
            if unreachable is None:
                if current is not None:
                    change.hdel(name)
                    changed = True
            elif current is None or current.reason is not unreachable.reason:
                fields[name] = encode_unreachable(unreachable)
                changed = True
            if fields:
                change.hset(fields)
            return changed or bool(fields)

        contact = await self._mutate(contact_id, build)
        return contact, changed

    async def learn_wechat_refusal(self, contact_id: str, kind: str, window_start: int) -> Contact:
        """Remember that WeChat refused the window starting at `window_start`
        ("spent": 45047, "closed": 45015) until the customer writes again."""
        if kind not in WECHAT_LEARNED_KINDS:
            raise ValueError(kind)

        def build(contact: Contact, _: tuple[IndexTerm, ...], change: Change) -> bool:
            conv = contact.conversation
            if (conv.wechat_learned, conv.wechat_learned_window) == (kind, window_start):
                return False
            change.hset({F_WECHAT_LEARNED: f"{kind}:{window_start}"})
            return True

        return await self._mutate(contact_id, build)

    async def set_thread(self, contact_id: str, thread_ts: str) -> Contact:
        """Remember the Slack thread of the current open period, and whose thread it is.

        The thread -> contact entry is written by the same script (same
        partition) and kept after the period ends: a shortcut used in an
        earlier thread still finds its contact.
        """
        ContactId.parse(contact_id)

        def build(contact: Contact, _: tuple[IndexTerm, ...], change: Change) -> bool:
            cid = ContactId.parse(contact.id)  # the survivor, after a merge
            if contact.conversation.thread_ts == thread_ts:
                return False
            change.hset({F_THREAD: thread_ts})
            change.hset_at(self.keys.thread_contacts(cid.partition), {thread_ts: cid.local})
            return True

        return await self._mutate(contact_id, build)

    async def find_by_thread(self, thread_ts: str) -> Contact | None:
        """The contact whose conversation thread (current or earlier) has this root ts."""
        pipe = self.redis.pipeline(transaction=False)
        for p in range(self.keys.partitions):
            pipe.hget(self.keys.thread_contacts(p), thread_ts)
        locals_: list[str | None] = await pipe.execute()
        for p, local in enumerate(locals_):
            if local:
                return await self.get(f"{p}-{local}")
        return None

    # --- merging two contacts (see the module docstring) ------------------------------

    async def merge(self, survivor_id: str, merged_id: str, now: datetime) -> Contact:
        """Merge contact `merged_id` into `survivor_id`; returns the survivor.

        Keeps every identity, handle, message and thread link (the merged id
        redirects to the survivor). Raises MergeConflict when both have an
        identity on one channel (a contact has one per channel: one would be
        lost), ContactNotFound when either is gone.
        """
        survivor = await self.require(survivor_id)
        merged = await self.require(merged_id)
        if survivor.id == merged.id:
            return survivor  # merged already (a repeated confirmation)
        clash = identity_clash(survivor, merged)
        if clash:
            raise MergeConflict(clash)
        await self._merge_intent(merged.id, survivor.id, now)
        return await self.finish_merge(merged.id)

    async def _merge_intent(self, merged_id: str, survivor_id: str, now: datetime) -> None:
        """Step 1: mark the merged contact; from here only merge steps may change it.

        A contact merged elsewhere meanwhile keeps that merge (this one is moot).
        """
        cid = ContactId.parse(merged_id)
        key = self.keys.contact(cid)
        for _ in range(MAX_ATTEMPTS):
            version = cast(str | None, await self.redis.hget(key, F_VERSION))
            change = Change(key).must_exist(True)
            change.expect(F_VERSION, version)
            change.hset({F_MERGED_INTO: survivor_id, F_MERGE_STATE: MERGE_PENDING})
            change.zadd(self.keys.merging(cid.partition), to_epoch(now), cid.local)
            result = await apply_change(self.redis, change)
            if result.ok or result.outcome == "merged":
                return
            if result.outcome == "missing":
                raise ContactNotFound(merged_id)
            await asyncio.sleep(0)
        raise ConcurrentUpdate(merged_id)

    async def finish_merge(self, merged_id: str) -> Contact:
        """Steps 2 and 3 of a begun merge, each done once however often this runs
        (after a crash, or by two readers at once); returns the survivor."""
        mcid = ContactId.parse(merged_id)
        mkey = self.keys.contact(mcid)
        for _ in range(MAX_ATTEMPTS):
            mdata = cast(dict[str, str], await self.redis.hgetall(mkey))
            survivor_id = mdata.get(F_MERGED_INTO)
            if not survivor_id:
                return await self.require(merged_id)  # not merged (or undone)
            if mdata.get(F_MERGE_STATE) == MERGE_DONE:
                return await self.require(survivor_id)
            scid = ContactId.parse(survivor_id)
            skey = self.keys.contact(scid)
            sdata = cast(dict[str, str], await self.redis.hgetall(skey))
            if not sdata:
                await self._undo_intent(mcid, mdata)
                raise ContactNotFound(survivor_id)
            if sdata.get(F_MERGED_INTO):
                # The survivor was merged away meanwhile: merge into its survivor.
                onward = await self.require(survivor_id)
                change = Change(mkey).must_exist(True).merge_step()
                change.expect(F_VERSION, mdata.get(F_VERSION))
                change.hset({F_MERGED_INTO: onward.id})
                await apply_change(self.redis, change)
                continue
            version = mdata.get(F_VERSION, "")
            absorbed = merged_from(sdata.get(F_MERGED_FROM, ""))
            if absorbed.get(merged_id) != version:
                change = Change(skey).must_exist(True)
                change.expect(F_VERSION, sdata.get(F_VERSION))
                survivor = contact_from_hash(survivor_id, sdata)
                merged = contact_from_hash(merged_id, mdata)
                clash = identity_clash(survivor, merged)
                if clash:
                    await self._undo_intent(mcid, mdata)
                    raise MergeConflict(clash)
                self._absorb(change, scid, survivor, sdata, merged, mdata)
                absorbed[merged_id] = version
                change.hset({F_MERGED_FROM: ",".join(f"{k}@{v}" for k, v in absorbed.items())})
                result = await apply_change(self.redis, change)
                if not result.ok:
                    await asyncio.sleep(0)
                    continue
            change = Change(mkey).must_exist(True).merge_step()
            change.expect(F_VERSION, version)
            self._tombstone(change, mcid, contact_from_hash(merged_id, mdata))
            result = await apply_change(self.redis, change)
            if result.ok:
                return await self.require(survivor_id)
            await asyncio.sleep(0)
        raise ConcurrentUpdate(merged_id)

    async def resume_merges(self) -> int:
        """Finish every merge a crash left half done (each partition's `merging` set)."""
        pipe = self.redis.pipeline(transaction=False)
        for p in range(self.keys.partitions):
            pipe.zrange(self.keys.merging(p), 0, -1)
        replies: list[list[str]] = await pipe.execute()
        finished = 0
        for p, locals_ in enumerate(replies):
            for local in locals_:
                # A merge undone (a clash, the survivor gone) leaves both as they were.
                with contextlib.suppress(MergeConflict, ContactNotFound):
                    await self.finish_merge(f"{p}-{local}")
                finished += 1
        return finished

    async def _undo_intent(self, cid: ContactId, data: Mapping[str, str]) -> None:
        """A merge that cannot finish (a clash, the survivor gone): M stays itself."""
        change = Change(self.keys.contact(cid)).must_exist(True).merge_step()
        change.expect(F_VERSION, data.get(F_VERSION))
        change.hdel(F_MERGED_INTO, F_MERGE_STATE)
        change.zrem(self.keys.merging(cid.partition), cid.local)
        await apply_change(self.redis, change)

    def _absorb(
        self,
        change: Change,
        cid: ContactId,
        survivor: Contact,
        sdata: Mapping[str, str],
        merged: Contact,
        mdata: Mapping[str, str],
    ) -> None:
        """Step 2: the survivor takes the merged contact's details and conversation."""
        s_conv, m_conv = survivor.conversation, merged.conversation
        identities = {**merged.identities, **survivor.identities}
        named = bool(survivor.first_name or survivor.last_name)
        draft = ContactDraft(
            first_name=survivor.first_name if named else merged.first_name,
            last_name=survivor.last_name if named else merged.last_name,
            email=survivor.email or merged.email,
            phone=survivor.phone or merged.phone,
            identities=identities,
            handles={**merged.handles, **survivor.handles},
        )
        inbound = dict(s_conv.last_inbound_at)
        for channel, at in m_conv.last_inbound_at.items():
            if channel not in inbound or at > inbound[channel]:
                self._index_window(change, cid, channel, inbound.get(channel), at)
                inbound[channel] = at
        score = sort_score(inbound)
        takes_thread = (
            s_conv.status is ConversationStatus.CLOSED and m_conv.status is ConversationStatus.OPEN
        )
        status = ConversationStatus.OPEN if takes_thread else s_conv.status
        assignee = m_conv.assignee if takes_thread else s_conv.assignee
        # New name terms go straight to the status and score the survivor ends with.
        ending = replace(
            survivor,
            conversation=replace(s_conv, status=status, last_inbound_at=inbound),
        )
        self._reindex(change, cid, ending, indexed_terms(survivor), draft, indexed_terms(merged))
        self._move(change, cid, survivor, status=status, assignee=assignee, score=score)
        fields = {INBOUND_FIELD + ch.value: str(to_epoch(at)) for ch, at in inbound.items()}
        fields[F_LAST_INBOUND] = str(score)
        for channel in merged.identities.keys() - survivor.identities.keys():
            # What the merged contact's channels had: reachability, WeChat's count.
            for name in (UNREACHABLE_FIELD + channel.value, REACH_AT_FIELD + channel.value):
                if name in mdata:
                    fields[name] = mdata[name]
            if channel is Channel.WECHAT:
                for name in (F_WECHAT_COUNT, F_WECHAT_WINDOW):
                    if name in mdata:
                        fields[name] = mdata[name]
        if not sdata.get(F_EMAIL_THREAD_ID) and mdata.get(F_EMAIL_THREAD_ID):
            fields[F_EMAIL_THREAD_ID] = mdata[F_EMAIL_THREAD_ID]
            fields[F_EMAIL_SUBJECT] = mdata.get(F_EMAIL_SUBJECT, "")
        if takes_thread:
            # The open conversation is the merged one's: its thread goes on.
            for name in (F_THREAD, F_OPENED_AT):
                if mdata.get(name):
                    fields[name] = mdata[name]
            if s_conv.thread_ts:
                fields[F_PREV_THREAD] = s_conv.thread_ts
            change.hdel(F_CLOSED_REASON, F_CLOSED_AT)
            if m_conv.thread_ts:
                change.hset_at(
                    self.keys.thread_contacts(cid.partition), {m_conv.thread_ts: cid.local}
                )
        change.hset(fields)

    def _tombstone(self, change: Change, cid: ContactId, merged: Contact) -> None:
        """Step 3: the merged contact leaves the indexes and sets; its hash redirects."""
        p = cid.partition
        for term in indexed_terms(merged):
            self._unindex(change, cid, term)
        conv = merged.conversation
        if conv.assignee:
            change.zrem(self.keys.inbox_set(p, conv.assignee), cid.local)
            change.zrem(self.keys.open_assigned(p), open_member(conv.assignee, cid.local))
        for channel, at in conv.last_inbound_at.items():
            self._index_window(change, cid, channel, at, None)
        change.hset({F_MERGE_STATE: MERGE_DONE})
        change.zrem(self.keys.merging(p), cid.local)


def merged_from(value: str) -> dict[str, str]:
    """`mf`: contact id -> the version of it that was absorbed."""
    pairs = (item.rpartition("@") for item in value.split(",") if item)
    return {cid: version for cid, _, version in pairs}


def identity_clash(survivor: Contact, merged: Contact) -> tuple[Channel, ...]:
    """Channels on which both contacts have a different identity."""
    return tuple(
        channel
        for channel, identity in merged.identities.items()
        if survivor.identities.get(channel, identity) != identity
    )


class MergeConflict(ValueError):
    """Both contacts have an identity on the same channel: merging would lose one."""

    def __init__(self, channels: tuple[Channel, ...]) -> None:
        super().__init__(", ".join(channel.value for channel in channels))
        self.channels = channels


class DuplicateDelivery(RuntimeError):
    """The channel delivered this customer message before: processed once already."""


class IdentityTaken(ValueError):
    """A phone, e-mail or identity already belongs to another contact."""


def _same_details(contact: Contact, draft: ContactDraft) -> bool:
    return (
        contact.first_name == draft.first_name
        and contact.last_name == draft.last_name
        and contact.email == draft.email
        and contact.phone == draft.phone
        and contact.identities == dict(draft.identities)
        and contact.handles == dict(draft.handles)
    )


__all__ = [
    "ApplyResult",
    "ConcurrentUpdate",
    "ContactDraft",
    "ContactNotFound",
    "ContactStore",
    "CreateResult",
    "IdentityTaken",
    "MergeConflict",
    "OpenAssigned",
]
