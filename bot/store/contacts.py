"""The contact repository: create, change details, delete, and everything
`ContactRecords` (reads), `ConversationCommits` and `ContactMerges` add.

A contact is one hash (`fu:{p3}:c:<local>`, fields in
`bot/store/contact_codec.py`) that holds the contact, its conversation and
the exact index terms it is findable by, so that any change removes
precisely what was indexed. Every write is one script call on the contact's
partition (`bot/store/scripts/*.lua`, one per use case): the record, its
index buckets and its status and inbox sets change together or not at all.
Merging two contacts is `bot/store/merge.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from bot.domain.channels import Channel
from bot.domain.contacts import TermKind, identity_term, reversed_digits
from bot.domain.models import Contact, ConversationStatus, to_epoch
from bot.store.contact_codec import (
    F_ASSIGNEE,
    F_EMAIL,
    F_FIRST,
    F_LAST,
    F_LAST_INBOUND,
    F_OPENED_AT,
    F_PHONE,
    F_STATUS,
    F_TERMS,
    F_TIME_ZONE,
    HANDLE_FIELD,
    IDENTITY_FIELD,
    INBOUND_FIELD,
    ContactDraft,
    contact_from_hash,
    encode_terms,
    indexed_terms,
    open_member,
    parse_window_member,
    sort_score,
    window_member,
)
from bot.store.contact_records import (
    ConcurrentUpdate,
    ContactNotFound,
    CreateResult,
    DuplicateDelivery,
    IdentityTaken,
    OpenAssigned,
)
from bot.store.conversations import ConversationCommits
from bot.store.index_writes import ContactWrite, index_window, leave_sets, reindex
from bot.store.keys import ContactId
from bot.store.merge import ContactMerges, MergeConflict, identity_clash
from bot.store.scripts import CREATE_CONTACT, DELETE_CONTACT, UPDATE_DETAILS, parse_reply


class ContactStore(ConversationCommits, ContactMerges):
    """Repository of contacts and conversations (one Redis or a Cluster)."""

    # --- creating --------------------------------------------------------------

    def _create_write(self, cid: ContactId, draft: ContactDraft, now: datetime) -> ContactWrite:
        p = cid.partition
        terms = draft.terms()
        score = sort_score(draft.last_inbound_at)
        write = ContactWrite(self.keys.contact(cid))
        # Two creators of the same customer pick the same home partition; the
        # first one wins and the other joins it (see `create`).
        for term in terms.terms:
            if term.kind is not TermKind.NAME and term.kind is not TermKind.HANDLE:
                write.unique(self.keys.index_bucket(p, term.kind, term.term), term.term)
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
        write.set(fields)
        for term in terms.terms:
            member = f"{term.term}\x00{cid.local}"
            write.zadd(self.keys.index_bucket(p, term.kind, term.term), 0, member)
            if term.kind is TermKind.NAME:
                write.zadd(self.keys.recency_bucket(p, draft.status, term.term), score, member)
        if draft.assignee:
            write.zadd(self.keys.inbox_set(p, draft.assignee), score, cid.local)
            if draft.status is ConversationStatus.OPEN:
                write.zadd(self.keys.open_assigned(p), 0, open_member(draft.assignee, cid.local))
        for channel, at in draft.last_inbound_at.items():
            index_window(write, self.keys, cid, channel, None, at, now)
        return write

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
            write = self._create_write(cid, draft, now)
            CREATE_CONTACT.queue(pipe, write.keys, write.argv_unique())
        replies = await pipe.execute()  # every connection has the scripts (connection.py)
        results: list[CreateResult] = []
        for cid, raw in zip(ids, replies, strict=True):
            reply = parse_reply(raw)
            if reply.ok:
                results.append(CreateResult(str(cid), True))
            elif reply.outcome == "taken":
                results.append(
                    CreateResult(f"{cid.partition}-{reply.detail.rpartition(chr(0))[2]}", False)
                )
            else:
                raise ConcurrentUpdate(f"create {cid}: {reply.outcome}")
        return results

    # --- changing ----------------------------------------------------------------

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

        def decide(contact: Contact) -> tuple[ContactWrite, list[object]] | None:
            cid = ContactId.parse(contact.id)  # the survivor, after a merge
            draft = ContactDraft(
                first_name=contact.first_name if first_name is None else first_name,
                last_name=contact.last_name if last_name is None else last_name,
                email=None if "email" in cleared else (email or contact.email),
                phone=None if "phone" in cleared else (phone or contact.phone),
                identities={**contact.identities, **(identities or {})},
                handles={**contact.handles, **(handles or {})},
            )
            if _same_details(contact, draft):
                return None
            write = ContactWrite(self.keys.contact(cid))
            indexed = indexed_terms(contact)
            reindex(write, self.keys, cid, contact, indexed, draft.terms().terms, draft)
            return write, [write.argv_unique()[-1]]

        return await self._mutate(contact_id, UPDATE_DETAILS, decide)

    async def set_time_zone(self, contact_id: str, zone: str | None) -> None:
        """The customer's time zone as an agent set it (None: from their phone again).

        A field of its own that no rule or index reads, so a plain write: the
        commits that check the contact's version never depend on it."""
        cid = ContactId.parse((await self.require(contact_id)).id)  # a merge's survivor
        if zone:
            await self.redis.hset(self.keys.contact(cid), F_TIME_ZONE, zone)
        else:
            await self.redis.hdel(self.keys.contact(cid), F_TIME_ZONE)

    async def delete(self, contact_id: str) -> None:
        """Remove a contact, its index entries and set memberships at once."""
        ContactId.parse(contact_id)

        def decide(contact: Contact) -> tuple[ContactWrite, list[object]] | None:
            cid = ContactId.parse(contact.id)  # the survivor, after a merge
            write = ContactWrite(self.keys.contact(cid))
            leave_sets(write, self.keys, cid, contact)
            return write, []

        try:
            await self._mutate(contact_id, DELETE_CONTACT, decide)
        except ContactNotFound:
            return


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
    "ConcurrentUpdate",
    "ContactDraft",
    "ContactNotFound",
    "ContactStore",
    "CreateResult",
    "DuplicateDelivery",
    "IdentityTaken",
    "MergeConflict",
    "OpenAssigned",
    "contact_from_hash",
    "identity_clash",
    "open_member",
    "parse_window_member",
    "window_member",
]
