"""What one contact script commits, and the index moves that go with a change.

A `ContactWrite` gathers, for one script call on one contact's slot, what
must still hold (`expect`), the fields to set and delete, and the sorted-set
moves that keep the indexes in step: the term buckets, the name recency
buckets, the inboxes, the open-and-assigned set and the window-alert index
(`bot/store/keys.py` names them). The arguments it makes are those of
`scripts/lib/contact.lua`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from bot.domain.channels import Channel
from bot.domain.contacts import IndexTerm, TermKind
from bot.domain.models import Contact, Conversation, ConversationStatus, to_epoch
from bot.domain.windows import free_text_closes_at
from bot.store.contact_codec import (
    F_EMAIL,
    F_FIRST,
    F_LAST,
    F_PHONE,
    F_TERMS,
    F_VERSION,
    HANDLE_FIELD,
    IDENTITY_FIELD,
    ContactDraft,
    conversation_fields,
    encode_terms,
    open_member,
    sort_score,
    window_member,
)
from bot.store.keys import ContactId, Keys


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class ContactWrite:
    """One contact script's arguments: KEYS (the contact first, then the others
    by position), then expect / set / delete / index moves (lib/contact.lua)."""

    def __init__(self, contact_key: str, *others: str) -> None:
        self.keys: list[str] = [contact_key]
        self._position: dict[str, int] = {contact_key: 1}
        for key in others:
            self.key(key)
        self.expected: dict[str, str | bool] = {}
        self.fields: dict[str, str] = {}
        self.removed: list[str] = []
        self._zrem: list[list[Any]] = []
        self._zadd: list[list[Any]] = []
        self.uniques: list[list[Any]] = []

    def key(self, name: str) -> int:
        position = self._position.get(name)
        if position is None:
            self.keys.append(name)
            position = self._position[name] = len(self.keys)
        return position

    def expect(self, field: str, value: str | None) -> ContactWrite:
        self.expected[field] = False if value is None else value
        return self

    def expect_version(self, contact: Contact | str | None) -> ContactWrite:
        version = contact.version if isinstance(contact, Contact) else contact
        return self.expect(F_VERSION, None if version is None else str(version))

    def set(self, fields: dict[str, str]) -> ContactWrite:
        self.fields.update(fields)
        return self

    def delete(self, *fields: str) -> ContactWrite:
        self.removed.extend(fields)
        return self

    def zadd(self, key: str, score: float, member: str) -> ContactWrite:
        self._zadd.append([self.key(key), score, member])
        return self

    def zrem(self, key: str, member: str) -> ContactWrite:
        self._zrem.append([self.key(key), False, member])
        return self

    def unique(self, bucket: str, term: str) -> ContactWrite:
        self.uniques.append([self.key(bucket), term])
        return self

    @property
    def changes_record(self) -> bool:
        return bool(self.fields or self.removed)

    def argv(self, *extra: object) -> list[object]:
        """ARGV[1..4] (removals before additions, as a move needs), then `extra`."""
        return [
            _json(self.expected),
            _json(self.fields),
            _json(self.removed),
            _json(self._zrem + self._zadd),
            *extra,
        ]

    def argv_unique(self) -> list[object]:
        return self.argv(_json(self.uniques))


def move(
    write: ContactWrite,
    keys: Keys,
    cid: ContactId,
    contact: Contact,
    *,
    status: ConversationStatus,
    assignee: str | None,
    score: int,
) -> None:
    """Keep the inbox, open-and-assigned and recency sets in step with a new
    status, assignee or sort score (the fields themselves are the caller's)."""
    p = cid.partition
    conv = contact.conversation
    if conv.assignee and conv.assignee != assignee:
        write.zrem(keys.inbox_set(p, conv.assignee), cid.local)
    if assignee:
        write.zadd(keys.inbox_set(p, assignee), score, cid.local)
    was_open = conv.assignee if conv.status is ConversationStatus.OPEN else None
    is_open = assignee if status is ConversationStatus.OPEN else None
    if was_open != is_open:
        if was_open:
            write.zrem(keys.open_assigned(p), open_member(was_open, cid.local))
        if is_open:
            write.zadd(keys.open_assigned(p), 0, open_member(is_open, cid.local))
    for kind, term in contact.index_terms:
        if kind != TermKind.NAME.value:
            continue
        member = f"{term}\x00{cid.local}"
        if status is not conv.status:
            write.zrem(keys.recency_bucket(p, conv.status, term), member)
        write.zadd(keys.recency_bucket(p, status, term), score, member)


def index_window(
    write: ContactWrite,
    keys: Keys,
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
    key = keys.window_alerts(cid.partition)
    if old is not None and free_text_closes_at(channel, old) is not None:
        write.zrem(key, window_member(cid.local, channel, old))
    closes = free_text_closes_at(channel, new) if new is not None else None
    if new is not None and closes is not None and (now is None or closes > now):
        write.zadd(key, to_epoch(closes), window_member(cid.local, channel, new))


def transition(
    write: ContactWrite,
    keys: Keys,
    contact: Contact,
    after: Conversation,
    now: datetime | None = None,
) -> None:
    """Everything a decided transition changes: its fields, and its index moves."""
    cid = ContactId.parse(contact.id)
    before = contact.conversation
    if after == before:
        return  # a send on the sender's open conversation: nothing moves
    for channel, at in after.last_inbound_at.items():
        previous = before.last_inbound_at.get(channel)
        if previous != at:
            index_window(write, keys, cid, channel, previous, at, now)
    move(
        write,
        keys,
        cid,
        contact,
        status=after.status,
        assignee=after.assignee,
        score=sort_score(after.last_inbound_at),
    )
    fields, removed = conversation_fields(before, after)
    write.set(fields).delete(*removed)


def unindex(write: ContactWrite, keys: Keys, cid: ContactId, term: IndexTerm) -> None:
    member = f"{term.term}\x00{cid.local}"
    write.zrem(keys.index_bucket(cid.partition, term.kind, term.term), member)
    if term.kind is TermKind.NAME:
        for status in ConversationStatus:
            write.zrem(keys.recency_bucket(cid.partition, status, term.term), member)


def leave_sets(write: ContactWrite, keys: Keys, cid: ContactId, contact: Contact) -> None:
    """Out of every index and set: a deleted or merged-away contact."""
    p = cid.partition
    for kind, term in contact.index_terms:
        unindex(write, keys, cid, IndexTerm(TermKind(kind), term))
    conv = contact.conversation
    if conv.assignee:
        write.zrem(keys.inbox_set(p, conv.assignee), cid.local)
        write.zrem(keys.open_assigned(p), open_member(conv.assignee, cid.local))
    for channel, at in conv.last_inbound_at.items():
        index_window(write, keys, cid, channel, at, None)


def reindex(
    write: ContactWrite,
    keys: Keys,
    cid: ContactId,
    old: Contact,
    indexed: Sequence[IndexTerm],
    new_terms: Sequence[IndexTerm],
    details: ContactDraft,
    shared: Collection[IndexTerm] = (),
) -> None:
    """Swap the indexed terms for the new ones and rewrite the detail fields.

    `shared`: terms another contact holds that this one may take too (a
    merge: the merged contact's, until its tombstone step)."""
    p = cid.partition
    old_terms = set(indexed)
    score = sort_score(old.conversation.last_inbound_at)
    for term in old_terms - set(new_terms):
        unindex(write, keys, cid, term)
    for term in set(new_terms) - old_terms:
        bucket = keys.index_bucket(p, term.kind, term.term)
        member = f"{term.term}\x00{cid.local}"
        if term.kind not in (TermKind.NAME, TermKind.HANDLE) and term not in shared:
            write.unique(bucket, term.term)
        write.zadd(bucket, 0, member)
        if term.kind is TermKind.NAME:
            status = old.conversation.status
            write.zadd(keys.recency_bucket(p, status, term.term), score, member)
    fields = {
        F_FIRST: details.first_name,
        F_LAST: details.last_name,
        F_TERMS: encode_terms(new_terms),
    }
    removed: list[str] = []
    for name, value in ((F_EMAIL, details.email), (F_PHONE, details.phone)):
        if value:
            fields[name] = value
        else:
            removed.append(name)
    for channel in Channel:
        name = IDENTITY_FIELD + channel.value
        if channel in details.identities:
            fields[name] = details.identities[channel]
        elif channel in old.identities:
            removed.append(name)
        name = HANDLE_FIELD + channel.value
        if channel in details.handles:
            fields[name] = details.handles[channel]
        elif channel in old.handles:
            removed.append(name)
    write.set(fields)
    if removed:
        write.delete(*removed)
