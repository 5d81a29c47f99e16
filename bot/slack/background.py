"""Work that runs after a Slack request's ack: bounded, ordered, drained at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

logger = logging.getLogger(__name__)

#: What `Background.run` calls when a piece of work fails (to tell the agent).
OnError = Callable[[BaseException], Awaitable[None]]


class Background:
    """Work that runs after the ack; kept referenced, drained at shutdown.

    At most `limit` pieces run at once; the rest wait their turn in order. Under
    a burst that keeps the event loop's turns short (acks stay fast) and the
    Redis connections few, and each piece of work finishes sooner than if all
    of them shared the loop at once. When more than `newest_first_after` wait
    (overload), the newest goes first: a modal must open within 3 s of its
    trigger or not at all, and the agent who just asked is the one watching;
    older answers still arrive once the burst is over (a `response_url` lasts
    30 minutes).

    Admission: while more than `admit_below` pieces are pending, `admission()`
    holds a request's HTTP answer (its work already queued) until the backlog
    shrinks, for at most `admit_wait` seconds. Slack, and people, then send
    more only as fast as the work gets done, instead of stacking work that
    would finish after its trigger expired.
    """

    LIMIT = 32
    NEWEST_FIRST_AFTER = 128
    ADMIT_BELOW = 64
    ADMIT_WAIT = 1.5  # the ack still well inside Slack's 3 seconds

    def __init__(
        self,
        limit: int = LIMIT,
        newest_first_after: int = NEWEST_FIRST_AFTER,
        *,
        admit_below: int = ADMIT_BELOW,
        admit_wait: float = ADMIT_WAIT,
    ) -> None:
        self.limit = limit
        self.newest_first_after = newest_first_after
        self.admit_below = admit_below
        self.admit_wait = admit_wait
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: deque[
            tuple[Coroutine[Any, Any, object], Callable[[BaseException], Awaitable[None]] | None]
        ] = deque()
        self._admitting: deque[asyncio.Future[None]] = deque()

    async def admission(self) -> None:
        """Return when the backlog is at most `admit_below` and no answer held
        before this one waits (first come, first answered), or after `admit_wait` s."""
        if self.pending <= self.admit_below and not self._admitting:
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._admitting.append(turn)
        # A turn that timed out is cancelled, and skipped when its time comes.
        with contextlib.suppress(TimeoutError):  # answer anyway: Slack waits 3 s at most
            await asyncio.wait_for(turn, self.admit_wait)

    def run(
        self,
        work: Coroutine[Any, Any, object],
        on_error: Callable[[BaseException], Awaitable[None]] | None = None,
    ) -> None:
        if len(self._tasks) < self.limit:
            self._start(work, on_error)
        else:
            self._waiting.append((work, on_error))

    def _start(
        self,
        work: Coroutine[Any, Any, object],
        on_error: Callable[[BaseException], Awaitable[None]] | None,
    ) -> None:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the edge: log, and tell the agent if we can
                logger.exception("slack work failed")
                if on_error is not None:
                    try:
                        await on_error(error)
                    except Exception:
                        logger.exception("could not tell the agent about a failure")

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        while self._waiting and len(self._tasks) < self.limit:
            if len(self._waiting) > self.newest_first_after:
                self._start(*self._waiting.pop())
            else:
                self._start(*self._waiting.popleft())
        # One held answer goes per piece of work finished, oldest first.
        while self._admitting and self.pending <= self.admit_below:
            turn = self._admitting.popleft()
            if not turn.done():
                turn.set_result(None)
                break

    @property
    def pending(self) -> int:
        """Work started or waiting to start."""
        return len(self._tasks) + len(self._waiting)

    async def drain(self, grace: float = 10.0) -> None:
        """Let the work finish (shutdown); cancel what outlives `grace` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - loop.time()))
            if late and loop.time() >= deadline:
                for task in late:
                    task.cancel()
                for work, _ in self._waiting:
                    work.close()  # never started: nothing to cancel
                self._waiting.clear()
                return
