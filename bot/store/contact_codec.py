"""The contact hash: its field names, named once, and its encoding.

A contact is one hash (`fu:{p3}:c:<local>`) that holds the contact, its
conversation and the exact index terms it is findable by (`tx`). The names
are short on purpose: a million contacts each repeat them, and readable
ones (`first_name`, `identity:<channel>`, ...) measured 749 bytes per contact
against 665 (`bench/search.py --contacts 50000`), which would take the
README's 958 B at a million past its 1,024 B target. This module is the one
place that spells them (and the table below says what each holds). The
Lua scripts know a few: `v` (version), `mg` (merged into), `wc`/`wcw` (the
WeChat count and its window), `li:wechat` (lib/contact.lua, commit_send.lua,
count_in_window.lua) and search.lua the fields of a result row.

| field | holds |
|---|---|
| `fn` `ln` `em` `ph` | first and last name, e-mail, phone (E.164) |
| `i:<channel>` `h:<channel>` | the identity and the handle on a channel |
| `tx` | the indexed name terms (`encode_terms`) |
| `st` `as` | conversation status, assignee |
| `oa` `ca` `cr` | opened at, closed at, closing reason |
| `th` `pth` | the open period's Slack thread, the previous period's |
| `li:<channel>` `li` | the customer's last message there (epoch s), the latest of all |
| `wc` `wcw` `wl` | WeChat: messages counted in the window starting `wcw`, what WeChat refused |
| `u:<channel>` `ur:<channel>` | unreachable (reason, since, detail), newest reachability event |
| `emid` `esub` | the customer's last e-mail: Message-ID, subject |
| `tz` | the customer's time zone, as an agent set it (IANA name) |
| `mg` `mgs` `mf` | merged into, merge state, merged from (bot/store/merge.py) |
| `v` | the version: every write bumps it |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.channels import Channel
from bot.domain.contacts import ContactTerms, IndexTerm, TermKind, contact_terms, identity_term
from bot.domain.models import (
    Contact,
    Conversation,
    ConversationStatus,
    from_epoch,
    to_epoch,
)
from bot.domain.reachability import LearnedLimit, Unreachable, UnreachableReason

# Field names of the contact hash (short: a million contacts share them).
F_FIRST, F_LAST, F_EMAIL, F_PHONE = "fn", "ln", "em", "ph"
F_STATUS, F_ASSIGNEE, F_LAST_INBOUND, F_TERMS = "st", "as", "li", "tx"
F_VERSION, F_THREAD, F_PREV_THREAD = "v", "th", "pth"
F_WECHAT_COUNT, F_WECHAT_WINDOW = "wc", "wcw"
F_WECHAT_LEARNED = "wl"  # what WeChat refused in a window: "spent:<start>" / "closed:<start>"
F_CLOSED_REASON, F_CLOSED_AT, F_OPENED_AT = "cr", "ca", "oa"
F_EMAIL_THREAD_ID, F_EMAIL_SUBJECT = "emid", "esub"  # the customer's last e-mail
F_TIME_ZONE = "tz"  # the customer's time zone, as an agent set it (IANA name)
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
_STATUSES = {status.value: status for status in ConversationStatus}
#: The per-channel fields' kinds, as `contact_from_hash` splits a field's name.
_IDENTITY, _HANDLE, _INBOUND, _UNREACHABLE, _REACH_AT = (
    prefix[:-1]
    for prefix in (IDENTITY_FIELD, HANDLE_FIELD, INBOUND_FIELD, UNREACHABLE_FIELD, REACH_AT_FIELD)
)


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
        # Per-channel fields are "<kind>:<channel>"; the rest are read by name below.
        kind, colon, rest = name.partition(":")
        if not colon:
            continue
        if kind == _IDENTITY:
            identities[_CHANNELS[rest]] = value
        elif kind == _HANDLE:
            handles[_CHANNELS[rest]] = value
        elif kind == _INBOUND:
            at = from_epoch(value)
            if at is not None:
                inbound[_CHANNELS[rest]] = at
        elif kind == _UNREACHABLE and rest in _CHANNELS:
            unreachable = decode_unreachable(value)
            if unreachable is not None:
                reachability[_CHANNELS[rest]] = unreachable
        elif kind == _REACH_AT and rest in _CHANNELS:
            at = from_epoch(value)
            if at is not None:
                reachability_at[_CHANNELS[rest]] = at
    window = data.get(F_WECHAT_WINDOW)
    learned_value = data.get(F_WECHAT_LEARNED)
    learned, learned_window = parse_wechat_learned(learned_value) if learned_value else (None, None)
    merged = data.get(F_MERGED_FROM)
    conversation = Conversation(
        status=_STATUSES.get(data.get(F_STATUS, ConversationStatus.CLOSED.value))
        or ConversationStatus(data[F_STATUS]),  # an unknown status raises, as before
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
        merged_from=tuple(merged_from(merged)) if merged else (),
        time_zone=data.get(F_TIME_ZONE) or None,
    )


def sort_score(contact_inbound: Mapping[Channel, datetime]) -> int:
    """The sets' score: the customer's last message on any channel (0: never)."""
    return max((to_epoch(at) for at in contact_inbound.values()), default=0)


def merged_from(value: str) -> dict[str, str]:
    """`mf`: contact id -> the version of it that was absorbed."""
    pairs = (item.rpartition("@") for item in value.split(",") if item)
    return {cid: version for cid, _, version in pairs}


def conversation_fields(
    before: Conversation, after: Conversation
) -> tuple[dict[str, str], list[str]]:
    """The fields to set and to delete that turn `before` into `after` in the hash."""
    fields: dict[str, str] = {}
    removed: list[str] = []

    def put(name: str, old: object, new: str | None) -> None:
        if new is None:
            if old is not None:
                removed.append(name)
        elif new != old:
            fields[name] = new

    def stamp(value: datetime | None) -> str | None:
        return None if value is None else str(to_epoch(value))

    put(F_STATUS, before.status.value, after.status.value)
    put(F_ASSIGNEE, before.assignee, after.assignee)
    put(F_THREAD, before.thread_ts, after.thread_ts)
    put(F_PREV_THREAD, before.previous_thread_ts, after.previous_thread_ts)
    put(F_CLOSED_REASON, before.closed_reason, after.closed_reason)
    put(F_CLOSED_AT, stamp(before.closed_at), stamp(after.closed_at))
    put(F_OPENED_AT, stamp(before.opened_at), stamp(after.opened_at))
    if after.last_inbound_at != before.last_inbound_at:
        for channel, at in after.last_inbound_at.items():
            if before.last_inbound_at.get(channel) != at:
                fields[INBOUND_FIELD + channel.value] = str(to_epoch(at))
        fields[F_LAST_INBOUND] = str(sort_score(after.last_inbound_at))
    return fields, removed
