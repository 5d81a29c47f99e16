"""PARTITIONS is fixed for the life of the data."""

from __future__ import annotations

import pytest

from bot.store.keys import Keys
from bot.store.layout import LayoutMismatch, ensure_layout
from tests.conftest import StoreEnv


async def test_partition_count_is_recorded_then_enforced(env: StoreEnv) -> None:
    await ensure_layout(env.redis, env.keys)
    await ensure_layout(env.redis, env.keys)  # the same count again is fine
    other = Keys(partitions=env.keys.partitions * 2, prefix=env.keys.prefix)
    with pytest.raises(LayoutMismatch, match=f"PARTITIONS={env.keys.partitions}"):
        await ensure_layout(env.redis, other)
