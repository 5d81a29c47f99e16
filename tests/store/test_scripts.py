"""The Lua scripts, called directly, and the one-slot rule for every call."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from redis.crc import key_slot

from bot.domain.channels import Channel
from bot.domain.windows import Form, PolicySettings
from bot.services.followup import FollowupRequest, FollowupService
from bot.store import scripts
from bot.store.contacts import ContactDraft
from bot.store.scripts import QUOTA, Change, CrossSlotError, apply_change, check_one_slot
from bot.store.search import SearchFilters
from tests.conftest import StoreEnv


def test_keys_of_different_slots_are_refused() -> None:
    with pytest.raises(CrossSlotError):
        check_one_slot(["fu:{p1}:c:1", "fu:{p2}:c:1"])
    check_one_slot(["fu:{p1}:c:1", "fu:{p1}:ix:n:sa", "fu:{p1}:outbox"])


async def test_every_script_call_of_a_full_scenario_stays_in_one_slot(
    any_env: StoreEnv, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    real = scripts.check_one_slot

    def spy(keys: list[str]) -> None:
        seen.append(list(keys))
        real(keys)

    monkeypatch.setattr(scripts, "check_one_slot", spy)
    created = await any_env.contacts.create(
        ContactDraft(
            first_name="Ana",
            email="ana@example.com",
            phone="+971501234567",
            identities={Channel.WECHAT: "wx1", Channel.VIBER: "vb1"},
            last_inbound_at={Channel.WECHAT: now},
        ),
        now,
    )
    cid = created.contact_id
    await any_env.contacts.update_details(cid, first_name="Anna", phone="+971509999999")
    await any_env.contacts.reopen(cid, "U1", now)
    await any_env.contacts.record_inbound(cid, Channel.WECHAT, now, now)
    svc = FollowupService(any_env.contacts, any_env.outbox, PolicySettings(), lambda: now)
    await svc.send(FollowupRequest(cid, Channel.WECHAT, "U1", "k1", Form.TEXT, text="hi"))
    await svc.send(FollowupRequest(cid, Channel.VIBER, "U1", "k2", Form.TEXT, text="hi"))
    await any_env.search.search("anna", SearchFilters(status=None))
    await any_env.contacts.close(cid, now, unassign=True)
    await any_env.contacts.delete(cid)
    assert len(seen) >= 8
    for keys in seen:
        assert len({key_slot(k.encode()) for k in keys}) == 1, keys


async def test_apply_checks_expectations_before_writing(env: StoreEnv) -> None:
    key = f"{env.keys.tag(0)}:c:x1"
    other = f"{env.keys.tag(0)}:other"
    first = await apply_change(env.redis, Change(key).must_exist(False).hset({"a": "1"}))
    assert first.ok and first.detail == "1"
    assert (
        await apply_change(env.redis, Change(key).must_exist(False).hset({"a": "2"}))
    ).outcome == "exists"
    stale = Change(key).expect("a", "0").hset({"a": "3"}).zadd(other, 1, "m")
    assert (await apply_change(env.redis, stale)).outcome == "conflict"
    assert await env.redis.hget(key, "a") == "1"
    assert await env.redis.exists(other) == 0
    absent = Change(key).expect("b", None).hset({"b": "x"})
    assert (await apply_change(env.redis, absent)).ok


async def test_apply_idempotency_and_unique_guards(env: StoreEnv) -> None:
    key = f"{env.keys.tag(1)}:c:x1"
    msg = f"{env.keys.tag(1)}:m:abc"
    bucket = f"{env.keys.tag(1)}:ix:t:765"
    change = Change(key).absent(msg).hset_at(msg, {"st": "queued"})
    assert (await apply_change(env.redis, change)).ok
    assert (
        await apply_change(env.redis, Change(key).absent(msg).hset({"x": "1"}))
    ).outcome == "duplicate"
    await env.redis.zadd(bucket, {"7654321\x00abc": 0})
    taken = await apply_change(env.redis, Change(key).unique(bucket, "7654321").hset({"p": "1"}))
    assert taken.outcome == "taken" and taken.detail == "7654321\x00abc"
    # A longer term that merely starts the same is not a clash.
    assert (await apply_change(env.redis, Change(key).unique(bucket, "765432").hset({"p": "1"}))).ok


async def test_apply_counter_counts_per_window_up_to_the_limit(env: StoreEnv) -> None:
    key = f"{env.keys.tag(2)}:c:x1"
    for _ in range(3):
        change = Change(key).counter("wc", "wcw", "1000", limit=3)
        assert (await apply_change(env.redis, change)).ok
    over = await apply_change(env.redis, Change(key).counter("wc", "wcw", "1000", limit=3))
    assert over.outcome == "limit" and over.detail == "3"
    # A new window start counts from zero again.
    assert (await apply_change(env.redis, Change(key).counter("wc", "wcw", "2000", limit=3))).ok
    assert await env.redis.hget(key, "wc") == "1"


async def test_apply_writes_stream_list_and_sets_together(env: StoreEnv) -> None:
    tag = env.keys.tag(3)
    change = (
        Change(f"{tag}:c:x1")
        .xadd(f"{tag}:outbox", {"m": "m1"})
        .lpush(f"{tag}:cm:x1", "m1", 2)
        .zadd(f"{tag}:st:open", 5, "x1")
    )
    result = await apply_change(env.redis, change)
    assert result.ok and result.stream_id
    for m in ("m2", "m3"):
        await apply_change(env.redis, Change(f"{tag}:c:x1").lpush(f"{tag}:cm:x1", m, 2))
    assert await env.redis.lrange(f"{tag}:cm:x1", 0, -1) == ["m3", "m2"]
    assert json.loads(change.argv()[0])["xadd"][0][0] == 2


async def test_quota_reserves_up_to_the_limit_and_releases(env: StoreEnv) -> None:
    key = env.keys.viber_quota("2026-11")
    assert await QUOTA(env.redis, [key], [1, 2, 60]) == 1
    assert await QUOTA(env.redis, [key], [1, 2, 60]) == 2
    assert await QUOTA(env.redis, [key], [1, 2, 60]) == -1
    assert await QUOTA(env.redis, [key], [-1, "", 60]) == 1
    assert await QUOTA(env.redis, [key], [1, "", 60]) == 2  # no limit (commercial terms)
    assert 0 < await env.redis.ttl(key) <= 60
