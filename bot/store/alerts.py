"""Personal alerts in Redis: their queue, their "sent once" marks, the window index.

* The queue (`alert_pending` hash and `alert_due` set, one hash tag) takes
  alerts cheaply from the paths that must not wait (webhooks, the relay);
  the sender in the worker drains it. An entry leaves the queue only once
  it was sent or can never be, so a Slack outage loses nothing.
* No alert twice for the same event, across replicas: the sender claims an
  event with SET NX on `alert_sent(event)` ("sending", short-lived) before
  its Slack call and marks it "sent" (kept for days) after; a failed call
  releases the claim so the event is tried again.
* The window-alert index (`window_alerts`, per partition) is written by the
  contact store in the commit that records a customer message; here it is
  read by the sweep and pruned.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from bot.store.connection import RedisClient
from bot.store.keys import Keys
from bot.store.locks import hold_lock
from bot.store.scripts import DONE

#: An event's "sent" mark is kept this long: no alert twice within it.
SENT_SECONDS = 14 * 24 * 3600
#: A claim outlives any one Slack call (30 s at most); a sender that died
#: mid-call leaves the event to be tried again after this.
SENDING_SECONDS = 300
SENT = "sent"


class Claim(StrEnum):
    CLAIMED = "claimed"  # ours to send
    ALREADY_SENT = "already_sent"  # sent before: drop the entry
    BUSY = "busy"  # another sender is sending it right now: leave it


@dataclass(frozen=True)
class PendingAlert:
    """A queue entry as read: its name, its raw payload (for `done`), decoded."""

    entry: str
    raw: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class DueWindow:
    """A window-alert index member whose free text closes by the sweep's horizon."""

    partition: int
    member: str
    closes_at: int  # epoch seconds


class AlertStore:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def hold(self, name: str, lease_ms: int) -> bool:
        """Take or renew the sender's lease for `name` (one sender across replicas)."""
        return await hold_lock(self.redis, self.keys.alert_lock(), name, lease_ms)

    # --- the queue ---------------------------------------------------------------

    async def enqueue(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        """Queue alerts (entry -> payload); an entry already queued takes the new payload."""
        if not entries:
            return
        payloads: dict[Any, str] = {  # Any: redis-py types mapping keys invariantly
            entry: json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            for entry, payload in entries.items()
        }
        pipe = self.redis.pipeline(transaction=True)  # one hash tag: one slot
        pipe.hset(self.keys.alert_pending(), mapping=payloads)
        pipe.zadd(self.keys.alert_due(), dict.fromkeys(payloads, time.time()), nx=True)
        await pipe.execute()

    async def due(self, limit: int, now: float | None = None) -> list[PendingAlert]:
        """Up to `limit` entries due by `now` (wall clock), oldest first."""
        due_key, pending_key = self.keys.alert_due(), self.keys.alert_pending()
        until = time.time() if now is None else now
        entries = cast(
            list[str], await self.redis.zrangebyscore(due_key, "-inf", until, start=0, num=limit)
        )
        if not entries:
            return []
        raws = cast(list[str | None], await self.redis.hmget(pending_key, entries))
        found: list[PendingAlert] = []
        for entry, raw in zip(entries, raws, strict=True):
            if raw is None:  # handled meanwhile by another sender
                await self.redis.zrem(due_key, entry)
                continue
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = None
            found.append(PendingAlert(entry, raw, payload if isinstance(payload, dict) else {}))
        return found

    async def done(self, alert: PendingAlert) -> bool:
        """Remove the entry, unless a newer payload was queued under it meanwhile."""
        keys = [self.keys.alert_pending(), self.keys.alert_due()]
        return bool(await DONE(self.redis, keys, [alert.entry, alert.raw]))

    async def postpone(self, alert: PendingAlert, seconds: float) -> None:
        """Try this entry again later (the others go first meanwhile)."""
        await self.redis.zadd(self.keys.alert_due(), {alert.entry: time.time() + seconds}, xx=True)

    async def queued(self) -> int:
        return int(await self.redis.zcard(self.keys.alert_due()))

    # --- sent once ---------------------------------------------------------------

    async def claim(self, event: str, sender: str) -> Claim:
        key = self.keys.alert_sent(event)
        if await self.redis.set(key, f"sending:{sender}", nx=True, ex=SENDING_SECONDS):
            return Claim.CLAIMED
        held = cast(str | None, await self.redis.get(key))
        if held == SENT:
            return Claim.ALREADY_SENT
        # Expired between the two calls: try once more.
        if held is None and await self.redis.set(
            key, f"sending:{sender}", nx=True, ex=SENDING_SECONDS
        ):
            return Claim.CLAIMED
        return Claim.BUSY

    async def mark_sent(self, event: str) -> None:
        await self.redis.set(self.keys.alert_sent(event), SENT, ex=SENT_SECONDS)

    async def release(self, event: str, sender: str) -> None:
        """Give an unsent event back (its alert will be tried again).

        GET then DEL, not atomic: a claim outlives any one Slack call
        (SENDING_SECONDS), so between the two it cannot have become another's.
        """
        key = self.keys.alert_sent(event)
        if cast(str | None, await self.redis.get(key)) == f"sending:{sender}":
            await self.redis.delete(key)

    # --- the window-alert index -----------------------------------------------------

    async def windows_closing_by(self, until: int, limit: int) -> list[DueWindow]:
        """Indexed windows whose free text closes by `until` (epoch), per partition."""
        pipe = self.redis.pipeline(transaction=False)
        for p in range(self.keys.partitions):
            pipe.zrangebyscore(
                self.keys.window_alerts(p), "-inf", until, start=0, num=limit, withscores=True
            )
        replies: list[list[tuple[str, float]]] = await pipe.execute()
        return [
            DueWindow(p, member, int(score))
            for p, rows in enumerate(replies)
            for member, score in rows
        ]

    async def forget_windows(self, windows: Sequence[DueWindow]) -> None:
        """Drop swept entries (an entry re-indexed meanwhile has another member)."""
        if not windows:
            return
        pipe = self.redis.pipeline(transaction=False)
        for window in windows:
            pipe.zrem(self.keys.window_alerts(window.partition), window.member)
        await pipe.execute()
