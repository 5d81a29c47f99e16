"""`tune_gc`: how `serve` and `worker` set the collector once started."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bot.runtime import GC_YOUNG_THRESHOLD, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_start_up_objects_are_frozen_and_the_young_generation_collected_less_often() -> None:
    started_with = gc.get_threshold()
    survivor = ["alive since start-up, like a connector"]
    tune_gc()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *started_with[1:])
    # Frozen: no collection walks it any more.
    assert gc.is_tracked(survivor)
    assert not any(tracked is survivor for tracked in gc.get_objects())
