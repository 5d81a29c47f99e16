"""The schedule: follow-ups and reminders waiting for their time, per partition.

An item lives in its contact's partition (its id starts with the partition),
so every script below touches one hash slot. Each script is one use case
(`scripts/schedule_*.lua`, contract in its header), registered once through
redis-py's `register_script` (EVALSHA, and a reload by itself on NOSCRIPT).
Times are stored as UTC ISO strings in the item hash and as epoch ms in the
sorted sets.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from redis.commands.core import AsyncScript

from bot.domain.schedule import ItemKind, ItemState, ScheduledItem
from bot.store.connection import RedisClient
from bot.store.keys import ContactId, Keys

_SCRIPT_NAMES = ("add", "claim", "done", "cancel", "move", "reply")


def _source(name: str) -> str:
    return resources.files("bot.store").joinpath(f"scripts/schedule_{name}.lua").read_text()


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def item_from_hash(item_id: str, fields: dict[str, str]) -> ScheduledItem:
    created = _moment(fields.get("created_at"))
    return ScheduledItem(
        id=item_id,
        kind=ItemKind(fields["kind"]),
        contact_id=fields["contact_id"],
        agent=fields.get("agent", ""),
        created_at=created or datetime.fromtimestamp(0, UTC),
        due_at=_moment(fields.get("due_at")),
        payload=fields.get("payload", ""),
        state=ItemState(fields.get("state", ItemState.PENDING.value)),
        attempts=int(fields.get("attempts", 0)),
    )


@dataclass(frozen=True, slots=True)
class ReplyEffect:
    """What a customer's message did to their waiting items."""

    released: tuple[str, ...]
    cancelled: tuple[str, ...]


class ChangeOutcome:
    DONE = 1
    RUNNING = 0
    MISSING = -1


class ScheduleStore:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(_source(name)) for name in _SCRIPT_NAMES
        }

    @staticmethod
    def new_id(contact_id: str) -> str:
        """An item id in its contact's partition: `<partition>:<random>`."""
        return f"{ContactId.parse(contact_id).partition}:{secrets.token_hex(8)}"

    def _item_keys(self, item: ScheduledItem) -> tuple[int, str]:
        return item.partition, self.keys.schedule_item(item.partition, item.id)

    async def add(self, item: ScheduledItem) -> bool:
        """Schedule `item`; False when an item with its id exists (a retry)."""
        partition, key = self._item_keys(item)
        cid = ContactId.parse(item.contact_id)
        if cid.partition != partition:
            raise ValueError("an item lives in its contact's partition")
        state = ItemState.WAITING if item.due_at is None else ItemState.PENDING
        fields = {
            "kind": item.kind.value,
            "contact_id": item.contact_id,
            "agent": item.agent,
            "created_at": _iso(item.created_at),
            "created_ms": str(epoch_ms(item.created_at)),
            "due_at": _iso(item.due_at),
            "payload": item.payload,
            "state": state.value,
            "attempts": "0",
        }
        flat = [v for pair in fields.items() for v in pair]
        added = await self._scripts["add"](
            keys=[
                key,
                self.keys.schedule_due(partition),
                self.keys.schedule_listed(partition),
                self.keys.schedule_agent(partition, item.agent),
                self.keys.schedule_contact(cid),
            ],
            args=[item.id, "" if item.due_at is None else epoch_ms(item.due_at), *flat],
        )
        return bool(added)

    async def claim(
        self, partition: int, now: datetime, lease_ms: int, limit: int
    ) -> list[ScheduledItem]:
        """Take up to `limit` items of `partition` due at `now` (or whose lease ran out)."""
        reply = await self._scripts["claim"](
            keys=[self.keys.schedule_due(partition), self.keys.schedule_running(partition)],
            args=[epoch_ms(now), lease_ms, limit, self.keys.schedule_item_prefix(partition)],
        )
        items = []
        for i in range(0, len(reply), 2):
            flat = [_text(v) for v in reply[i + 1]]
            items.append(
                item_from_hash(_text(reply[i]), dict(zip(flat[::2], flat[1::2], strict=True)))
            )
        return items

    async def done(self, item: ScheduledItem) -> bool:
        partition, key = self._item_keys(item)
        return bool(
            await self._scripts["done"](
                keys=[
                    key,
                    self.keys.schedule_running(partition),
                    self.keys.schedule_listed(partition),
                    self.keys.schedule_agent(partition, item.agent),
                    self.keys.schedule_contact(ContactId.parse(item.contact_id)),
                ],
                args=[item.id],
            )
        )

    async def get(self, item_id: str) -> ScheduledItem | None:
        partition = int(item_id.split(":", 1)[0])
        raw = await self.redis.hgetall(self.keys.schedule_item(partition, item_id))
        if not raw:
            return None
        return item_from_hash(item_id, {_text(k): _text(v) for k, v in raw.items()})

    async def cancel(self, item: ScheduledItem) -> int:
        """`ChangeOutcome`: DONE (cancelled), RUNNING (being done now), MISSING."""
        partition, key = self._item_keys(item)
        return int(
            await self._scripts["cancel"](
                keys=[
                    key,
                    self.keys.schedule_due(partition),
                    self.keys.schedule_listed(partition),
                    self.keys.schedule_agent(partition, item.agent),
                    self.keys.schedule_contact(ContactId.parse(item.contact_id)),
                ],
                args=[item.id],
            )
        )

    async def move(self, item: ScheduledItem, due_at: datetime | None, payload: str = "") -> int:
        """New time (None: keep it) and payload for a waiting item; `ChangeOutcome`
        as for `cancel`."""
        partition, key = self._item_keys(item)
        return int(
            await self._scripts["move"](
                keys=[
                    key,
                    self.keys.schedule_due(partition),
                    self.keys.schedule_listed(partition),
                    self.keys.schedule_agent(partition, item.agent),
                ],
                args=[item.id, "" if due_at is None else epoch_ms(due_at), _iso(due_at), payload],
            )
        )

    async def customer_wrote(
        self, contact_id: str, now: datetime, wrote_at: datetime | None = None
    ) -> ReplyEffect:
        """Release what waited for the customer's message (sent at `wrote_at`,
        default `now`) and cancel their reminders: items made before it only."""
        cid = ContactId.parse(contact_id)
        p = cid.partition
        released, cancelled = await self._scripts["reply"](
            keys=[
                self.keys.schedule_contact(cid),
                self.keys.schedule_due(p),
                self.keys.schedule_listed(p),
            ],
            args=[
                self.keys.schedule_item_prefix(p),
                self.keys.schedule_agent_prefix(p),
                _iso(now),
                epoch_ms(now),
                epoch_ms(wrote_at or now),
            ],
        )
        return ReplyEffect(tuple(_text(i) for i in released), tuple(_text(i) for i in cancelled))

    async def _read(self, partition_ids: Iterable[tuple[int, str]]) -> list[ScheduledItem]:
        pairs = list(partition_ids)
        if not pairs:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition, item_id in pairs:
                pipe.hgetall(self.keys.schedule_item(partition, item_id))
            rows = await pipe.execute()
        return [
            item_from_hash(item_id, {_text(k): _text(v) for k, v in row.items()})
            for (_, item_id), row in zip(pairs, rows, strict=True)
            if row
        ]

    async def for_contact(self, contact_id: str) -> list[ScheduledItem]:
        """A contact's waiting items, soonest first ("when they write" last)."""
        cid = ContactId.parse(contact_id)
        ids = await self.redis.smembers(self.keys.schedule_contact(cid))
        items = await self._read((cid.partition, _text(i)) for i in ids)
        return sorted(items, key=_soonest_first)

    async def listed(self, agent: str | None = None, limit: int = 50) -> list[ScheduledItem]:
        """Waiting items of one agent (or of the team, `agent=None`), soonest first."""

        async def one(partition: int) -> list[tuple[int, str]]:
            key = (
                self.keys.schedule_listed(partition)
                if agent is None
                else self.keys.schedule_agent(partition, agent)
            )
            ids = await self.redis.zrange(key, 0, limit - 1)
            return [(partition, _text(i)) for i in ids]

        found = await asyncio.gather(*(one(p) for p in range(self.keys.partitions)))
        items = await self._read(pair for part in found for pair in part)
        return sorted(items, key=_soonest_first)[:limit]


def _soonest_first(item: ScheduledItem) -> tuple[int, float]:
    return (1, 0.0) if item.due_at is None else (0, item.due_at.timestamp())
