"""Counting the round trips a search makes, for tests that hold it to one."""

from __future__ import annotations

from typing import Any

import pytest

import bot.store.search
from bot.store.connection import pipelined as run_pipelined
from tests.conftest import StoreEnv


class RoundTrips:
    """Counts the store's round trips: each `pipelined` call and each pipeline
    executed (a cluster's `pipelined` runs one pipeline: counted once)."""

    def __init__(self, env: StoreEnv, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._inside = False
        make = env.redis.pipeline

        def pipeline(*args: object, **kwargs: object) -> object:
            pipe = make(*args, **kwargs)  # type: ignore[arg-type]
            execute = pipe.execute

            async def counted(*a: object, **k: object) -> object:
                if not self._inside:
                    self.count += 1
                return await execute(*a, **k)  # type: ignore[arg-type]

            pipe.execute = counted  # type: ignore[method-assign,assignment]
            return pipe

        async def pipelined(redis: Any, commands: Any) -> list[Any]:
            self.count += 1
            self._inside = True
            try:
                return await run_pipelined(redis, commands)
            finally:
                self._inside = False

        monkeypatch.setattr(env.redis, "pipeline", pipeline)
        monkeypatch.setattr(bot.store.search, "pipelined", pipelined)
