"""The Lua scripts in `scripts/`: one file per use case, each run through
redis-py's `register_script` (EVALSHA, and a load on NOSCRIPT, by redis-py).

Every call names its keys explicitly; `check_one_slot` guards the rule that
a script touches keys of one hash slot only (Redis Cluster).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.commands.core import AsyncScript
from redis.crc import key_slot

from bot.store.connection import RedisClient, load_on_connect


class CrossSlotError(RuntimeError):
    """A script was about to be given keys of more than one hash slot."""


def check_one_slot(keys: Sequence[str]) -> None:
    if len(keys) > 1:
        # The usual case, cheaply (a batch script names hundreds of keys):
        # keys that start like the first one up to its hash tag share its tag.
        first = keys[0]
        start = first.find("{")
        end = first.find("}", start + 1) if start >= 0 else -1
        if end > start + 1 and all(k.startswith(first[: end + 1]) for k in keys):
            return
    slots = {key_slot(k.encode()) for k in keys}
    if len(slots) > 1:
        raise CrossSlotError(f"keys span {len(slots)} slots: {list(keys)}")


def script_source(name: str) -> str:
    return resources.files("bot.store").joinpath("scripts", f"{name}.lua").read_text("utf-8")


class LuaScript:
    """One script file, registered with the first client that runs it.

    `await SCRIPT(redis, keys, args)` goes through redis-py's script object
    (EVALSHA; on NOSCRIPT it loads the source and runs it again). `queue`
    adds an EVALSHA to a pipeline: every connection loads the scripts when
    it is made (`bot.store.connection.load_on_connect`), so a pipeline needs
    no SCRIPT EXISTS round trip.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.source = script_source(name)
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()
        self._registered: AsyncScript | None = None
        load_on_connect(self.source)

    async def __call__(self, redis: RedisClient, keys: Sequence[str], args: Sequence[Any]) -> Any:
        check_one_slot(keys)
        if self._registered is None:
            self._registered = redis.register_script(self.source)
        return await self._registered(keys, args, client=redis)

    def queue(self, pipe: Any, keys: Sequence[str], args: Sequence[Any]) -> None:
        """Add a call to a pipeline (`pipe.execute()` runs it)."""
        check_one_slot(keys)
        pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)


APPLY = LuaScript("apply")
SEARCH = LuaScript("search")
QUOTA = LuaScript("quota")
DONE = LuaScript("done")
CLAIM_BATCH = LuaScript("claim_batch")
FINISH_BATCH = LuaScript("finish_batch")
ENQUEUE_MANY = LuaScript("enqueue_many")
INTAKE_TAKE = LuaScript("intake_take")
INTAKE_ADOPT = LuaScript("intake_adopt")
INTAKE_SETTLE = LuaScript("intake_settle")
ALL_SCRIPTS = (
    APPLY, SEARCH, QUOTA, DONE, CLAIM_BATCH, FINISH_BATCH, ENQUEUE_MANY, INTAKE_TAKE, INTAKE_ADOPT,
    INTAKE_SETTLE,
)  # fmt: skip


async def load_all(redis: RedisClient) -> None:
    """Load every script (on every primary of a cluster) so pipelines can EVALSHA."""
    for script in ALL_SCRIPTS:
        await redis.script_load(script.source)


class Change:
    """A change to one contact for `apply.lua`: guards first, then writes.

    Keys are given once and referred to by position, as the script expects.
    """

    def __init__(self, contact_key: str) -> None:
        self.keys: list[str] = [contact_key]
        self.ops: dict[str, Any] = {}

    def key(self, name: str) -> int:
        if name not in self.keys:
            self.keys.append(name)
        return self.keys.index(name) + 1

    def must_exist(self, exists: bool) -> Change:
        self.ops["exists"] = exists
        return self

    def expect(self, field_name: str, value: str | None) -> Change:
        self.ops.setdefault("expect", {})[field_name] = False if value is None else value
        return self

    def absent(self, key_name: str) -> Change:
        self.ops.setdefault("absent", []).append(self.key(key_name))
        return self

    def unique(self, bucket: str, term: str) -> Change:
        self.ops.setdefault("unique", []).append([self.key(bucket), term])
        return self

    def counter(
        self, field_name: str, window_field: str, window: str, limit: int | None, by: int = 1
    ) -> Change:
        self.ops["counter"] = {
            "field": field_name,
            "window_field": window_field,
            "window": window,
            "limit": False if limit is None else limit,
            "by": by,
        }
        return self

    def hset(self, mapping: dict[str, str]) -> Change:
        self.ops.setdefault("hset", {}).update(mapping)
        return self

    def hdel(self, *fields: str) -> Change:
        self.ops.setdefault("hdel", []).extend(fields)
        return self

    def delete(self, key_name: str) -> Change:
        self.ops.setdefault("del", []).append(self.key(key_name))
        return self

    def zadd(self, key_name: str, score: float, member: str) -> Change:
        self.ops.setdefault("zadd", []).append([self.key(key_name), score, member])
        return self

    def zrem(self, key_name: str, member: str) -> Change:
        self.ops.setdefault("zrem", []).append([self.key(key_name), member])
        return self

    def hset_at(self, key_name: str, mapping: dict[str, str]) -> Change:
        self.ops.setdefault("hset_at", []).append([self.key(key_name), mapping])
        return self

    def xadd(self, key_name: str, mapping: dict[str, str]) -> Change:
        self.ops.setdefault("xadd", []).append([self.key(key_name), mapping])
        return self

    def lpush(self, key_name: str, value: str, keep: int) -> Change:
        self.ops.setdefault("lpush", []).append([self.key(key_name), value, keep])
        return self

    def setex(self, key_name: str, value: str, seconds: int) -> Change:
        self.ops.setdefault("setex", []).append([self.key(key_name), value, seconds])
        return self

    def merge_step(self) -> Change:
        """A step of a merge: allowed on a contact already marked merged."""
        self.ops["merging"] = True
        return self

    def xack(self, stream: str, group: str, entry_id: str) -> Change:
        self.ops.setdefault("xack", []).append([self.key(stream), group, entry_id])
        return self

    def argv(self) -> list[str]:
        return [json.dumps(self.ops, ensure_ascii=False, separators=(",", ":"))]


@dataclass(frozen=True)
class ApplyResult:
    """What `apply.lua` answered: `ok` with the new version, or a refusal."""

    outcome: str
    detail: str = ""
    stream_id: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def parse_apply(reply: Sequence[str]) -> ApplyResult:
    outcome = reply[0]
    detail = reply[1] if len(reply) > 1 else ""
    stream_id = reply[2] if len(reply) > 2 else ""
    return ApplyResult(outcome, detail, stream_id)


async def apply_change(redis: RedisClient, change: Change) -> ApplyResult:
    return parse_apply(await APPLY(redis, change.keys, change.argv()))
