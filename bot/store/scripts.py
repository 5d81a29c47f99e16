"""The Lua scripts in `scripts/`: one file per use case, each run through
redis-py's `register_script` (EVALSHA, and a load on NOSCRIPT, by redis-py).

Every call names its keys explicitly; `check_one_slot` guards the rule that
a script touches keys of one hash slot only (Redis Cluster).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import repeat
from typing import Any

from redis.commands.core import AsyncScript
from redis.crc import key_slot

from bot.store.connection import RedisClient, load_on_connect


class CrossSlotError(RuntimeError):
    """A script was about to be given keys of more than one hash slot."""


def check_one_slot(keys: Sequence[str]) -> None:
    if len(keys) > 1:
        # The usual case, cheaply (a batch script names hundreds of keys):
        # keys that start like the first one up to its hash tag share its tag
        # (compared in C, by `map`: a generator's step costs more than the test).
        first = keys[0]
        start = first.find("{")
        end = first.find("}", start + 1) if start >= 0 else -1
        if end > start + 1 and all(map(str.startswith, keys, repeat(first[: end + 1]))):
            return
    slots = {key_slot(k.encode()) for k in keys}
    if len(slots) > 1:
        raise CrossSlotError(f"keys span {len(slots)} slots: {list(keys)}")


def script_source(name: str) -> str:
    return resources.files("bot.store").joinpath("scripts", f"{name}.lua").read_text("utf-8")


#: What a script names in `uses`: shared Lua put before its own (`scripts/lib/`).
CONTACT_LIB = "lib/contact"


class LuaScript:
    """One script file, registered with the first client that runs it.

    `await SCRIPT(redis, keys, args)` goes through redis-py's script object
    (EVALSHA; on NOSCRIPT it loads the source and runs it again). `queue`
    adds an EVALSHA to a pipeline: every connection loads the scripts when
    it is made (`bot.store.connection.load_on_connect`), so a pipeline needs
    no SCRIPT EXISTS round trip.
    """

    def __init__(self, name: str, *, uses: tuple[str, ...] = ()) -> None:
        self.name = name
        self.source = "\n".join([*(script_source(lib) for lib in uses), script_source(name)])
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
        pipe.execute_command(*self.command(keys, args))

    def command(self, keys: Sequence[str], args: Sequence[Any]) -> tuple[Any, ...]:
        """The call as a command, for `bot.store.connection.pipelined`."""
        check_one_slot(keys)
        return ("EVALSHA", self.sha, len(keys), *keys, *args)


# The contact scripts: one per use case (see each file's header).
_CONTACT = (CONTACT_LIB,)
CREATE_CONTACT = LuaScript("create_contact", uses=_CONTACT)
UPDATE_DETAILS = LuaScript("update_details", uses=_CONTACT)
DELETE_CONTACT = LuaScript("delete_contact", uses=_CONTACT)
REOPEN = LuaScript("reopen", uses=_CONTACT)
ASSIGN = LuaScript("assign", uses=_CONTACT)
CLOSE = LuaScript("close", uses=_CONTACT)
RECORD_INBOUND = LuaScript("record_inbound", uses=_CONTACT)
IMPORT_STATE = LuaScript("import_state", uses=_CONTACT)
SET_REACHABILITY = LuaScript("set_reachability", uses=_CONTACT)
LEARN_WECHAT_REFUSAL = LuaScript("learn_wechat_refusal", uses=_CONTACT)
SET_THREAD = LuaScript("set_thread", uses=_CONTACT)
MERGE_INTENT = LuaScript("merge_intent", uses=_CONTACT)
MERGE_ABSORB = LuaScript("merge_absorb", uses=_CONTACT)
MERGE_TOMBSTONE = LuaScript("merge_tombstone", uses=_CONTACT)
MERGE_UNDO = LuaScript("merge_undo", uses=_CONTACT)
MERGE_REDIRECT = LuaScript("merge_redirect", uses=_CONTACT)
COMMIT_SEND = LuaScript("commit_send", uses=_CONTACT)
# The outbox's and the relay's.
COUNT_IN_WINDOW = LuaScript("count_in_window")
RECORD_OUTSIDE_WINDOW = LuaScript("record_outside_window")
RECORD_STATUS = LuaScript("record_status")
REQUEUE_DUE = LuaScript("requeue_due")
SCHEDULE_RETRY = LuaScript("schedule_retry")
SEARCH = LuaScript("search")
QUOTA = LuaScript("quota")
DONE = LuaScript("done")
CLAIM_BATCH = LuaScript("claim_batch")
FINISH_BATCH = LuaScript("finish_batch")
ENQUEUE_MANY = LuaScript("enqueue_many")
INTAKE_TAKE = LuaScript("intake_take")
INTAKE_ADOPT = LuaScript("intake_adopt")
INTAKE_SETTLE = LuaScript("intake_settle")
INTAKE_FINISH = LuaScript("intake_finish")
HOLD_LOCK = LuaScript("hold_lock")
ALL_SCRIPTS = tuple(v for v in list(globals().values()) if isinstance(v, LuaScript))


async def load_all(redis: RedisClient) -> None:
    """Load every script (on every primary of a cluster) so pipelines can EVALSHA."""
    for script in ALL_SCRIPTS:
        await redis.script_load(script.source)


@dataclass(frozen=True)
class Reply:
    """What a contact script answered: "ok" (with the new version and, for a
    send, its outbox entry id) or a refusal ("missing", "merged", "moved",
    "exists", "taken", "duplicate", "limit") with its detail."""

    outcome: str
    detail: str = ""
    entry_id: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def parse_reply(reply: Sequence[str]) -> Reply:
    return Reply(reply[0], reply[1] if len(reply) > 1 else "", reply[2] if len(reply) > 2 else "")
