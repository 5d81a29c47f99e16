"""PARTITIONS and the layout version are fixed for the life of the data."""

from __future__ import annotations

import pytest

from bot.store.keys import Keys
from bot.store.layout import LAYOUT_VERSION, LayoutMismatch, ensure_layout
from tests.conftest import StoreEnv


async def test_partition_count_is_recorded_then_enforced(env: StoreEnv) -> None:
    await ensure_layout(env.redis, env.keys)
    await ensure_layout(env.redis, env.keys)  # the same count again is fine
    other = Keys(partitions=env.keys.partitions * 2, prefix=env.keys.prefix)
    with pytest.raises(LayoutMismatch, match=f"PARTITIONS={env.keys.partitions}"):
        await ensure_layout(env.redis, other)


@pytest.mark.parametrize(
    "stored",
    [{"partitions": "8", "layout": "1"}, {"partitions": "8"}, {"partitions": "8", "layout": "2"}],
    ids=["v1", "unversioned", "v2-cryptic-message-fields"],
)
async def test_data_of_an_older_layout_version_is_refused(
    env: StoreEnv, stored: dict[str, str]
) -> None:
    await env.redis.hset(env.keys.meta(), mapping=stored)
    old = stored.get("layout", "1")
    with pytest.raises(
        LayoutMismatch, match=f"layout version {old}; .* layout {LAYOUT_VERSION} only"
    ):
        await ensure_layout(env.redis, env.keys)
    assert await env.redis.hget(env.keys.meta(), "layout") == stored.get("layout")


async def test_a_new_redis_is_stamped_with_the_current_layout(env: StoreEnv) -> None:
    await ensure_layout(env.redis, env.keys)
    assert await env.redis.hget(env.keys.meta(), "layout") == str(LAYOUT_VERSION)
