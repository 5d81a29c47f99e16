"""Each use-case script called directly on a real Redis (and the cluster): its
guards refuse and write nothing; its writes land together."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from bot.domain import conversations
from bot.domain.channels import Channel
from bot.store import scripts
from bot.store.contacts import ContactDraft
from bot.store.index_writes import ContactWrite, transition
from bot.store.keys import ContactId
from bot.store.scripts import LuaScript, parse_reply
from tests.conftest import StoreEnv

SCRIPTS_DIR = Path(scripts.__file__).parent / "scripts"
TESTS_DIR = Path(__file__).parent.parent


def test_every_script_opens_with_its_name_and_its_keys_and_argv_contract() -> None:
    for path in sorted(SCRIPTS_DIR.glob("*.lua")):
        lines = path.read_text().splitlines()
        code = next(i for i, line in enumerate(lines) if line and not line.startswith("--"))
        header = "\n".join(lines[:code])
        assert header.startswith(f"-- {path.name}:"), path.name
        assert "KEYS[1" in header, path.name
        assert "ARGV[1]" in header or "lib/contact.lua" in header, path.name


def test_every_script_of_the_store_is_called_by_a_test() -> None:
    """Every script `bot/store/scripts.py` loads (bot/store/schedule.py
    registers and tests its own)."""
    files = {path.stem for path in SCRIPTS_DIR.glob("*.lua")}
    loaded = {script.name for script in scripts.ALL_SCRIPTS}
    assert loaded <= files
    assert not {name for name in files - loaded if not name.startswith("schedule_")}
    tests = "".join(p.read_text() for p in TESTS_DIR.rglob("test_*.py"))
    tests += "".join(THROUGH_THEIR_STORE)
    untested = [
        name
        for name in sorted(loaded)
        if name.upper() not in tests and f"{name}.lua" not in tests and name not in tests
    ]
    assert not untested


#: Scripts tested through the one store method that runs each.
THROUGH_THEIR_STORE = {
    "intake_take": "tests/store/test_intake.py: IntakeStore.take",
    "intake_settle": "tests/store/test_intake.py: IntakeStore.settle",
    "intake_finish": "tests/store/test_intake.py: IntakeStore.finish",
}


@dataclass
class Contact:
    """A contact hash written by hand, under one partition's tag."""

    env: StoreEnv
    partition: int = 3

    @property
    def tag(self) -> str:
        return self.env.keys.tag(self.partition)

    @property
    def key(self) -> str:
        return f"{self.tag}:c:x1"

    def other(self, name: str) -> str:
        return f"{self.tag}:{name}"

    async def make(self, **fields: str) -> None:
        await self.env.redis.hset(self.key, mapping={"v": "5", "st": "open", **fields})

    async def run(self, script: LuaScript, write: ContactWrite, *extra: object) -> list[str]:
        return list(await script(self.env.redis, write.keys, write.argv(*extra)))


#: A version-guarded contact script, with the keys and extra arguments it needs.
Call = Callable[[Contact], tuple[ContactWrite, list[object]]]


def _plain(c: Contact) -> tuple[ContactWrite, list[object]]:
    return ContactWrite(c.key), []


def _unique(c: Contact) -> tuple[ContactWrite, list[object]]:
    return ContactWrite(c.key), ["[]"]


def _inbound(c: Contact) -> tuple[ContactWrite, list[object]]:
    return ContactWrite(c.key, c.other("seen:1")), [60]


def _thread(c: Contact) -> tuple[ContactWrite, list[object]]:
    return ContactWrite(c.key, c.other("threads")), ["1.1", "x1"]


def _absorb(c: Contact) -> tuple[ContactWrite, list[object]]:
    return ContactWrite(c.key, c.other("threads")), ["", "x1"]


def _send(c: Contact) -> tuple[ContactWrite, list[object]]:
    write = ContactWrite(c.key, c.other("m:1"), c.other("outbox"), c.other("cm:x1"))
    return write, ['{"st":"queued"}', '{"m":"1"}', "1", 50, "", ""]


GUARDED: list[tuple[LuaScript, Call]] = [
    (scripts.REOPEN, _plain),
    (scripts.ASSIGN, _plain),
    (scripts.CLOSE, _plain),
    (scripts.IMPORT_STATE, _plain),
    (scripts.SET_REACHABILITY, _plain),
    (scripts.LEARN_WECHAT_REFUSAL, _plain),
    (scripts.UPDATE_DETAILS, _unique),
    (scripts.DELETE_CONTACT, _plain),
    (scripts.RECORD_INBOUND, _inbound),
    (scripts.SET_THREAD, _thread),
    (scripts.MERGE_INTENT, _plain),
    (scripts.MERGE_ABSORB, _absorb),
    (scripts.COMMIT_SEND, _send),
]
MERGE_STEPS = [scripts.MERGE_TOMBSTONE, scripts.MERGE_UNDO, scripts.MERGE_REDIRECT]


@pytest.mark.parametrize(("script", "call"), GUARDED, ids=[script.name for script, _ in GUARDED])
async def test_a_contact_script_refuses_a_missing_merged_or_moved_contact(
    any_env: StoreEnv, script: LuaScript, call: Call
) -> None:
    c = Contact(any_env)
    elsewhere = c.other("ix:n:an")

    def attempt(version: str) -> tuple[ContactWrite, list[object]]:
        write, extra = call(c)
        write.expect("v", version).set({"fn": "New"}).zadd(elsewhere, 1, "an\x00x1")
        return write, extra

    write, extra = attempt("5")
    assert await c.run(script, write, *extra) == ["missing"]
    await c.make(mg="2-7")
    assert await c.run(script, write, *extra) == ["merged", "2-7"]
    await any_env.redis.hdel(c.key, "mg")
    write, extra = attempt("4")
    assert await c.run(script, write, *extra) == ["moved", "v"]
    assert await any_env.redis.hget(c.key, "fn") is None
    assert await any_env.redis.exists(elsewhere) == 0
    write, extra = attempt("5")
    assert (await c.run(script, write, *extra))[0] == "ok"


@pytest.mark.parametrize("script", MERGE_STEPS, ids=[s.name for s in MERGE_STEPS])
async def test_merge_steps_go_on_on_a_contact_marked_merged(
    env: StoreEnv, script: LuaScript
) -> None:
    c = Contact(env)
    await c.make(mg="2-7", mgs="pending")
    write = ContactWrite(c.key, c.other("merging")).expect("v", "5").set({"mgs": "done"})
    assert await c.run(script, write.zrem(c.other("merging"), "x1")) == ["ok", "6"]
    stale = ContactWrite(c.key).expect("v", "5").set({"mgs": "x"})
    assert await c.run(script, stale) == ["moved", "v"]


async def test_writes_bump_the_version_and_index_moves_remove_before_they_add(
    env: StoreEnv,
) -> None:
    c = Contact(env)
    await c.make(**{"as": "U1"})
    inbox = c.other("inbox")
    await env.redis.zadd(inbox, {"x1": 1})
    # The same member removed and added: the add wins whatever the call order.
    write = ContactWrite(c.key).expect("v", "5").set({"as": "U2"}).zadd(inbox, 9, "x1")
    write.zrem(inbox, "x1").delete("st")
    assert await c.run(scripts.ASSIGN, write) == ["ok", "6"]
    assert await env.redis.hgetall(c.key) == {"as": "U2", "v": "6"}
    assert await env.redis.zscore(inbox, "x1") == 9


async def test_create_contact_refuses_an_existing_record_and_a_taken_term(
    any_env: StoreEnv,
) -> None:
    c = Contact(any_env)
    bucket = c.other("ix:p:765")

    def create() -> ContactWrite:
        write = ContactWrite(c.key).set({"fn": "Ana", "st": "closed"})
        return write.unique(bucket, "7654321").zadd(bucket, 0, "7654321\x00x1")

    await any_env.redis.zadd(bucket, {"7654321\x00other": 0})
    assert await c.run(scripts.CREATE_CONTACT, create(), *create().argv_unique()[4:]) == [
        "taken",
        "7654321\x00other",
    ]
    await any_env.redis.zrem(bucket, "7654321\x00other")
    # A longer term that merely starts the same is not a clash.
    await any_env.redis.zadd(bucket, {"76543210\x00other": 0})
    assert await c.run(scripts.CREATE_CONTACT, create(), *create().argv_unique()[4:]) == [
        "ok",
        "1",
    ]
    assert await any_env.redis.zscore(bucket, "7654321\x00x1") == 0
    assert await c.run(scripts.CREATE_CONTACT, create(), *create().argv_unique()[4:]) == ["exists"]


async def test_update_details_refuses_a_term_another_contact_holds(env: StoreEnv) -> None:
    c = Contact(env)
    await c.make()
    bucket = c.other("ix:e:ana")
    await env.redis.zadd(bucket, {"ana@x.org\x00other": 0})
    write = ContactWrite(c.key).expect("v", "5").set({"em": "ana@x.org"})
    write.unique(bucket, "ana@x.org")
    assert await c.run(scripts.UPDATE_DETAILS, write, write.argv_unique()[4]) == [
        "taken",
        "ana@x.org\x00other",
    ]
    assert await env.redis.hget(c.key, "em") is None


async def test_record_inbound_takes_a_repeated_delivery_once(any_env: StoreEnv) -> None:
    c = Contact(any_env)
    await c.make()
    seen = c.other("seen:wamid.1")

    def inbound(version: str) -> ContactWrite:
        return ContactWrite(c.key, seen).expect("v", version).set({"li:whatsapp": "1000"})

    assert await c.run(scripts.RECORD_INBOUND, inbound("5"), 60) == ["ok", "6"]
    assert 0 < await any_env.redis.ttl(seen) <= 60
    assert await c.run(scripts.RECORD_INBOUND, inbound("6"), 60) == ["duplicate"]
    assert await any_env.redis.hget(c.key, "v") == "6"
    # Without a channel message id there is no marker to check.
    no_id = ContactWrite(c.key).expect("v", "6").set({"li:whatsapp": "2000"})
    assert await c.run(scripts.RECORD_INBOUND, no_id, "") == ["ok", "7"]


async def test_set_thread_and_merge_absorb_link_the_thread_to_the_contact(
    env: StoreEnv,
) -> None:
    c = Contact(env)
    await c.make()
    threads = c.other("threads")
    write = ContactWrite(c.key, threads).expect("v", "5").set({"th": "1.1"})
    assert await c.run(scripts.SET_THREAD, write, "1.1", "x1") == ["ok", "6"]
    write = ContactWrite(c.key, threads).expect("v", "6").set({"mf": "2-7@3"})
    assert await c.run(scripts.MERGE_ABSORB, write, "2.2", "x1") == ["ok", "7"]
    assert await env.redis.hgetall(threads) == {"1.1": "x1", "2.2": "x1"}


async def test_delete_contact_removes_the_record_and_its_index_entries(env: StoreEnv) -> None:
    c = Contact(env)
    await c.make()
    bucket = c.other("ix:n:an")
    await env.redis.zadd(bucket, {"an\x00x1": 0, "an\x00x2": 0})
    write = ContactWrite(c.key).expect("v", "5").zrem(bucket, "an\x00x1")
    assert await c.run(scripts.DELETE_CONTACT, write) == ["ok", "0"]
    assert await env.redis.exists(c.key) == 0
    assert await env.redis.zrange(bucket, 0, -1) == ["an\x00x2"]


def _send_call(c: Contact, message: str, *, window: str = "", limit: object = "") -> list[object]:
    write = ContactWrite(c.key, c.other(f"m:{message}"), c.other("outbox"), c.other("cm:x1"))
    write.expect("li:wechat", window or None)
    return [
        write,
        json.dumps({"st": "queued", "cid": "3-x1"}),
        json.dumps({"m": message, "c": "3-x1"}),
        message,
        2,
        window,
        limit,
    ]


async def test_commit_send_records_queues_and_lists_the_message_once(any_env: StoreEnv) -> None:
    c = Contact(any_env)
    await c.make()
    write, *extra = _send_call(c, "m1")
    assert isinstance(write, ContactWrite)
    reply = parse_reply(await c.run(scripts.COMMIT_SEND, write, *extra))
    assert (reply.outcome, reply.detail) == ("ok", "0")  # the record itself is unchanged
    assert await any_env.redis.hgetall(c.other("m:m1")) == {"st": "queued", "cid": "3-x1"}
    stream = await any_env.redis.xrange(c.other("outbox"))
    assert [(entry_id, fields) for entry_id, fields in stream] == [
        (reply.entry_id, {"m": "m1", "c": "3-x1"})
    ]
    assert await c.run(scripts.COMMIT_SEND, write, *extra) == ["duplicate"]
    for message in ("m2", "m3"):
        write, *extra = _send_call(c, message)
        assert isinstance(write, ContactWrite)
        await c.run(scripts.COMMIT_SEND, write, *extra)
    assert await any_env.redis.lrange(c.other("cm:x1"), 0, -1) == ["m3", "m2"]  # keeps 2


async def test_commit_send_counts_wechat_per_window_up_to_the_limit(env: StoreEnv) -> None:
    c = Contact(env)
    await c.make(**{"li:wechat": "1000"})
    outcomes = []
    for n in range(3):
        write, *extra = _send_call(c, f"w{n}", window="1000", limit=2)
        assert isinstance(write, ContactWrite)
        outcomes.append(await c.run(scripts.COMMIT_SEND, write, *extra))
    assert [o[0] for o in outcomes] == ["ok", "ok", "limit"]
    assert outcomes[2] == ["limit", "2"]
    assert await env.redis.exists(c.other("m:w2")) == 0  # refused: nothing written
    assert await env.redis.hmget(c.key, ["wc", "wcw", "v"]) == ["2", "1000", "7"]
    # The customer wrote again: the policy's window start no longer holds.
    await env.redis.hset(c.key, "li:wechat", "2000")
    write, *extra = _send_call(c, "w3", window="1000", limit=2)
    assert isinstance(write, ContactWrite)
    assert await c.run(scripts.COMMIT_SEND, write, *extra) == ["moved", "li:wechat"]


async def test_count_in_window_counts_in_the_current_window_only(any_env: StoreEnv) -> None:
    c = Contact(any_env)
    await c.make(**{"li:wechat": "1000"})
    message = c.other("m:w1")
    keys = [c.key, message]
    assert await scripts.COUNT_IN_WINDOW(any_env.redis, keys, ["1000", 1, "cw"]) == ["ok"]
    assert await any_env.redis.hget(message, "cw") == "1000"
    assert await scripts.COUNT_IN_WINDOW(any_env.redis, keys, ["1000", 1, "cw"]) == ["limit", "1"]
    assert await scripts.COUNT_IN_WINDOW(any_env.redis, keys, ["900", "", "cw"]) == ["moved"]
    await any_env.redis.hset(c.key, "mg", "2-7")
    assert await scripts.COUNT_IN_WINDOW(any_env.redis, [c.key], ["1000", "", "cw"]) == ["moved"]


async def test_record_outside_window_records_once_and_touches_no_conversation(
    any_env: StoreEnv,
) -> None:
    c = Contact(any_env)
    keys = [c.key, c.other("m:o1"), c.other("cm:x1")]
    args = [json.dumps({"st": "outside_window"}), "o1", 50]
    assert await scripts.RECORD_OUTSIDE_WINDOW(any_env.redis, keys, args) == ["missing"]
    await c.make()
    assert await scripts.RECORD_OUTSIDE_WINDOW(any_env.redis, keys, args) == ["ok"]
    assert await scripts.RECORD_OUTSIDE_WINDOW(any_env.redis, keys, args) == ["duplicate"]
    assert await any_env.redis.hget(c.other("m:o1"), "st") == "outside_window"
    assert await any_env.redis.lrange(c.other("cm:x1"), 0, -1) == ["o1"]
    assert await any_env.redis.hget(c.key, "v") == "5"


async def test_record_status_moves_only_from_the_status_it_was_decided_from(
    any_env: StoreEnv,
) -> None:
    key = f"{any_env.keys.tag(1)}:m:s1"
    sent = json.dumps({"st": "sent", "cmid": "wamid.1"})
    assert await scripts.RECORD_STATUS(any_env.redis, [key], ["st", "queued", sent]) == 0
    await any_env.redis.hset(key, "st", "queued")
    assert await scripts.RECORD_STATUS(any_env.redis, [key], ["st", "queued", sent]) == 1
    read = json.dumps({"st": "read"})
    assert await scripts.RECORD_STATUS(any_env.redis, [key], ["st", "queued", read]) == 0
    assert await any_env.redis.hgetall(key) == {"st": "sent", "cmid": "wamid.1"}


async def test_requeue_due_and_schedule_retry_move_between_schedule_and_stream(
    any_env: StoreEnv,
) -> None:
    tag = any_env.keys.tag(2)
    schedule, outbox, lease = f"{tag}:retry", f"{tag}:outbox", f"{tag}:lease:r1"
    await any_env.redis.xgroup_create(outbox, "relay", id="0", mkstream=True)
    entry = await any_env.redis.xadd(outbox, {"m": "r1"})
    await any_env.redis.xreadgroup("relay", "c1", {outbox: ">"})
    await any_env.redis.set(lease, "c1")
    keys = [schedule, outbox, lease]
    assert await scripts.SCHEDULE_RETRY(any_env.redis, keys, [500, "r1", "relay", entry]) == 1
    assert await any_env.redis.zscore(schedule, "r1") == 500
    assert await any_env.redis.xlen(outbox) == 0
    assert (await any_env.redis.xpending(outbox, "relay"))["pending"] == 0
    assert await any_env.redis.exists(lease) == 0

    requeued = await scripts.REQUEUE_DUE(any_env.redis, [schedule, outbox], ["r1", '{"m":"r1"}'])
    assert requeued and await any_env.redis.xrange(outbox) == [(requeued, {"m": "r1"})]
    assert await any_env.redis.zcard(schedule) == 0
    await any_env.redis.zadd(schedule, {"gone": 1})
    assert await scripts.REQUEUE_DUE(any_env.redis, [schedule, outbox], ["gone", ""]) == ""
    assert await any_env.redis.zcard(schedule) == 0 and await any_env.redis.xlen(outbox) == 1


async def test_a_send_on_the_senders_open_conversation_moves_no_index(
    env: StoreEnv, now: datetime
) -> None:
    created = await env.contacts.create(
        ContactDraft(first_name="Ana", identities={Channel.TELEGRAM: "42"}), now
    )
    contact = await env.contacts.reopen(created.contact_id, "U1", now)
    write = ContactWrite(env.keys.contact(ContactId.parse(contact.id)))
    transition(write, env.keys, contact, conversations.send(contact.conversation, "U1", now), now)
    assert write.keys == [env.keys.contact(ContactId.parse(contact.id))]
    assert not write.changes_record
    reopened = conversations.send(contact.conversation, "U2", now)
    transition(write, env.keys, contact, reopened, now)
    assert env.keys.inbox_set(ContactId.parse(contact.id).partition, "U2") in write.keys
