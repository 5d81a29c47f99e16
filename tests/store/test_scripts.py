"""The Lua scripts, called directly, and the one-slot rule for every call."""

from __future__ import annotations

from datetime import datetime

import pytest
from redis.crc import key_slot

from bot.domain.channels import Channel
from bot.domain.messages import Content
from bot.domain.windows import Form, PolicySettings
from bot.services.followup import FollowupRequest, FollowupService
from bot.store import scripts
from bot.store.contacts import ContactDraft
from bot.store.scripts import QUOTA, CrossSlotError, check_one_slot
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
    await svc.send(
        FollowupRequest(cid, Channel.WECHAT, "U1", "k1", Form.TEXT, content=Content("hi"))
    )
    await svc.send(
        FollowupRequest(cid, Channel.VIBER, "U1", "k2", Form.TEXT, content=Content("hi"))
    )
    await any_env.search.search("anna", SearchFilters(status=None))
    await any_env.contacts.close(cid, now, unassign=True)
    await any_env.contacts.delete(cid)
    assert len(seen) >= 8
    for keys in seen:
        assert len({key_slot(k.encode()) for k in keys}) == 1, keys


async def test_quota_reserves_up_to_the_limit_and_releases(env: StoreEnv) -> None:
    key = env.keys.viber_quota("2026-11")
    assert await QUOTA(env.redis, [key], [1, 2, 60]) == 1
    assert await QUOTA(env.redis, [key], [1, 2, 60]) == 2
    assert await QUOTA(env.redis, [key], [1, 2, 60]) == -1
    assert await QUOTA(env.redis, [key], [-1, "", 60]) == 1
    assert await QUOTA(env.redis, [key], [1, "", 60]) == 2  # no limit (commercial terms)
    assert 0 < await env.redis.ttl(key) <= 60
