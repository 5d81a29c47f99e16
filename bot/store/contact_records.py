"""Reading contacts, and the read-decide-commit loop every contact change uses.

`ContactRecords` is the base of `ContactStore` (bot/store/contacts.py): the
conversation commits (bot/store/conversations.py) and the merge steps
(bot/store/merge.py) build on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from bot.domain.channels import Channel
from bot.domain.contacts import IndexTerm, TermKind, identity_term, reversed_digits
from bot.domain.models import Contact
from bot.store.connection import RedisClient
from bot.store.contact_codec import (
    F_MERGE_STATE,
    F_MERGED_INTO,
    F_VERSION,
    MERGE_DONE,
    ContactDraft,
    contact_from_hash,
)
from bot.store.index_writes import ContactWrite
from bot.store.keys import ContactId, Keys
from bot.store.scripts import LuaScript, parse_reply

#: How many redirects a read follows (a merged contact's survivor merged too).
MAX_REDIRECTS = 8
#: Commands per pipeline when looking many terms up.
LOOKUP_PIPELINE = 2000
#: How many times a read-decide-commit cycle is retried when the record moved.
MAX_ATTEMPTS = 16

#: Decides a change from the contact as read: the write and the script's
#: extra arguments, or None for "nothing to do".
Decide = Callable[[Contact], "tuple[ContactWrite, list[object]] | None"]


class ContactNotFound(LookupError):
    def __init__(self, contact_id: str) -> None:
        super().__init__(contact_id)
        self.contact_id = contact_id


class ConcurrentUpdate(RuntimeError):
    """The record kept changing under us; the caller may try again later."""


class DuplicateDelivery(RuntimeError):
    """The channel delivered this customer message before: processed once already."""


class IdentityTaken(ValueError):
    """A phone, e-mail or identity already belongs to another contact."""


@dataclass(frozen=True)
class CreateResult:
    contact_id: str
    created: bool


@dataclass(frozen=True)
class OpenAssigned:
    """Open, assigned conversations: (assignee, contact id) pairs, and how many in all."""

    pairs: tuple[tuple[str, str], ...]
    total: int


class ContactRecords:
    """Contacts as stored (one Redis or a Cluster): reads, and committing a change."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def finish_merge(self, merged_id: str) -> Contact:  # bot/store/merge.py
        raise NotImplementedError

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

    # --- changing ------------------------------------------------------------------

    async def _mutate(self, contact_id: str, script: LuaScript, decide: Decide) -> Contact:
        """Read, let `decide` make the write, commit it with `script` if the
        contact is still the version read; read again and retry if it moved."""
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
            decided = decide(contact)
            if decided is None:
                return contact
            write, extra = decided
            write.expect_version(data.get(F_VERSION))
            reply = parse_reply(await script(self.redis, write.keys, write.argv(*extra)))
            if reply.ok:
                return await self.require(contact_id)
            if reply.outcome == "missing":
                raise ContactNotFound(contact_id)
            if reply.outcome == "taken":
                raise IdentityTaken(reply.detail.partition("\x00")[0])
            if reply.outcome == "duplicate":
                raise DuplicateDelivery(contact_id)
            await asyncio.sleep(0)  # moved, or merged meanwhile: read again
        raise ConcurrentUpdate(contact_id)
