"""Durable webhook intake: verified channel events, stored before the answer.

A verified webhook's events go to per-partition Redis streams in one
pipelined round trip (`put`), and the channel is answered at once; a consumer
group reads them after (`read`, `take_over`) and each entry is acknowledged
and deleted once processed (`done`). An entry holds one customer's events of
one webhook, in order, on the stream of that customer (`Keys.webhook_shard`),
so one customer's events are processed in the order they came. Processing is
idempotent (a customer message id is remembered, a receipt never moves a
message backwards), so an entry processed twice after a crash does no harm.
"""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Any, cast

import orjson
from redis.exceptions import ResponseError

from bot.domain.events import InboundMedia, WebhookEvent
from bot.domain.media import MediaKind
from bot.domain.windows import Reason, parse_stored_reason, stored_reason
from bot.store.connection import RedisClient
from bot.store.keys import Keys

GROUP = "inbound"
#: Entry fields: the customer's lane key and the events as JSON.
LANE_FIELD = "lane"
EVENTS_FIELD = "events"

#: Every kind of webhook event, by its class name (how an entry names it).
_KINDS: dict[str, type[WebhookEvent]] = {cls.__name__: cls for cls in typing.get_args(WebhookEvent)}


@dataclasses.dataclass(frozen=True)
class IntakeEntry:
    """One stored entry: its stream id, its customer's lane and its events."""

    entry_id: str
    lane: str
    events: list[WebhookEvent]


def sender_of(event: WebhookEvent) -> str:
    """Who an event is about, as the channel names them (for ordering)."""
    for name in ("identity", "recipient", "channel_message_id"):
        value = getattr(event, name, None)
        if value:
            return str(value)
    return ""


# --- the events as JSON -------------------------------------------------------------


def _field_types(cls: type) -> dict[str, tuple[type, ...]]:
    """Each field's concrete types (`datetime | None` → (datetime, NoneType))."""
    hints = typing.get_type_hints(cls)
    out: dict[str, tuple[type, ...]] = {}
    for name, hint in hints.items():
        args = typing.get_args(hint)
        origin = typing.get_origin(hint)
        union = origin is typing.Union or origin is types.UnionType
        out[name] = tuple(a for a in args if isinstance(a, type)) if union else (hint,)
    return out


_TYPES = {cls: _field_types(cls) for cls in _KINDS.values()}


def _encode_value(value: object) -> object:
    if isinstance(value, tuple):
        return [_encode_value(item) for item in value]
    if isinstance(value, InboundMedia):
        return {f.name: _encode_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Reason):
        return stored_reason(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _decode_value(value: object, kinds: tuple[type, ...]) -> object:
    if value is None:
        return None
    if isinstance(value, list):  # a message's files
        return tuple(_media(item) for item in value)
    for kind in kinds:
        if kind is datetime and isinstance(value, str):
            return datetime.fromisoformat(value)
        if kind is Reason and isinstance(value, str):
            return parse_stored_reason(value)
        if isinstance(kind, type) and issubclass(kind, Enum):
            return kind(value)
    return value


def _media(row: dict[str, Any]) -> InboundMedia:
    return InboundMedia(
        kind=MediaKind(row["kind"]),
        ref=row["ref"],
        mime_type=row.get("mime_type", ""),
        file_name=row.get("file_name", ""),
        size=row.get("size"),
    )


def encode_events(events: Sequence[WebhookEvent]) -> str:
    rows = []
    for event in events:
        row = {f.name: _encode_value(getattr(event, f.name)) for f in dataclasses.fields(event)}
        row["event_type"] = type(event).__name__
        rows.append(row)
    return orjson.dumps(rows).decode()


def decode_events(text: str) -> list[WebhookEvent]:
    events: list[WebhookEvent] = []
    for row in orjson.loads(text):
        cls = _KINDS[row.pop("event_type")]
        kinds = _TYPES[cls]
        values: dict[str, Any] = {
            k: _decode_value(v, kinds[k]) for k, v in row.items() if k in kinds
        }
        events.append(cls(**values))
    return events


# --- the streams ----------------------------------------------------------------------


class WebhookIntakeStore:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def put(self, events: Sequence[WebhookEvent]) -> None:
        """Store a verified webhook's events: one entry per customer, one round trip."""
        lanes: dict[str, list[WebhookEvent]] = {}
        for event in events:
            lanes.setdefault(f"{event.channel.value}\0{sender_of(event)}", []).append(event)
        if not lanes:
            return
        pipe = self.redis.pipeline(transaction=False)
        for lane, lane_events in lanes.items():
            channel, _, sender = lane.partition("\0")
            stream = self.keys.webhook_intake(self.keys.webhook_shard(channel, sender))
            pipe.xadd(stream, {LANE_FIELD: lane, EVENTS_FIELD: encode_events(lane_events)})
        await pipe.execute()

    async def ensure_group(self, partition: int) -> None:
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
            await self.redis.xgroup_create(
                self.keys.webhook_intake(partition), GROUP, id="0", mkstream=True
            )

    async def read(
        self, partition: int, consumer: str, *, count: int, block_ms: int | None, new: bool = True
    ) -> list[IntakeEntry]:
        """New entries (`new`), or the ones this consumer already holds."""
        stream = self.keys.webhook_intake(partition)
        reply = await self.redis.xreadgroup(
            GROUP, consumer, {stream: ">" if new else "0"}, count=count, block=block_ms
        )
        entries: list[IntakeEntry] = []
        for _, rows in cast(list[tuple[str, list[tuple[str, dict[str, str]]]]], reply or []):
            entries.extend(_entry(entry_id, fields) for entry_id, fields in rows if fields)
        return entries

    async def take_over(
        self, partition: int, consumer: str, *, min_idle_ms: int, count: int = 100
    ) -> list[IntakeEntry]:
        """Entries another consumer left pending past `min_idle_ms` (it died)."""
        reply: Any = await self.redis.xautoclaim(
            self.keys.webhook_intake(partition),
            GROUP,
            consumer,
            min_idle_time=min_idle_ms,
            count=count,
        )
        # Redis 7 answers [cursor, entries, deleted]; 6.2 [cursor, entries].
        return [_entry(entry_id, fields) for entry_id, fields in reply[1] if fields]

    async def claim_from(
        self, partition: int, dead: str, consumer: str, *, count: int = 100
    ) -> list[IntakeEntry]:
        """Take the entries a dead consumer holds (XCLAIM); forget it once it holds none."""
        stream = self.keys.webhook_intake(partition)
        pending = await self.redis.xpending_range(
            stream, GROUP, min="-", max="+", count=count, consumername=dead
        )
        ids = [str(item["message_id"]) for item in pending]
        if not ids:
            await self.redis.xgroup_delconsumer(stream, GROUP, dead)
            return []
        claimed = cast(
            list[tuple[str, dict[str, str] | None]],
            await self.redis.xclaim(stream, GROUP, consumer, 0, cast(Any, ids)),
        )
        entries = [_entry(str(e[0]), e[1]) for e in claimed if e and e[1]]
        gone = set(ids) - {e.entry_id for e in entries}
        if gone:  # deleted while pending: nothing to process
            await self.redis.xack(stream, GROUP, *gone)
        return entries

    async def done(self, partition: int, entry_ids: Sequence[str]) -> None:
        """Acknowledge and delete processed entries (one round trip, one slot)."""
        if not entry_ids:
            return
        stream = self.keys.webhook_intake(partition)
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(stream, GROUP, *entry_ids)
        pipe.xdel(stream, *entry_ids)
        await pipe.execute()

    async def backlog(self) -> int:
        """Entries stored and not yet processed (in flight included)."""
        pipe = self.redis.pipeline(transaction=False)
        for partition in range(self.keys.partitions):
            pipe.xlen(self.keys.webhook_intake(partition))
        return sum(int(n) for n in await pipe.execute())


def _entry(entry_id: str, fields: dict[str, str]) -> IntakeEntry:
    return IntakeEntry(entry_id, fields.get(LANE_FIELD, ""), decode_events(fields[EVENTS_FIELD]))
