"""Agents' submissions worked from Redis, at least once: what listeners hand over.

A listener for a submission that will send or change something calls
`SlackIntake.submit(kind, body, lang)` before it acks: the submission is
stored (one script call, `bot.store.intake`), then worked by this process
right after the ack, in `Background`, by the work function registered for its
kind (`on(kind, work)`), and removed once worked. A process that dies between
the ack and the end of the work leaves the entry owned by a dead consumer; a
live process adopts it within a sweep of the heartbeat lapsing (`run`) and
works it with the same function. The work functions are idempotent (the
follow-up commit has its own key: the trigger, the view id), and answer
through the payload's `response_url` while it lives (Slack: 30 minutes),
else by direct message (`respond_or_dm`).
https://api.slack.com/interactivity/handling#message_responses
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.availability import is_outage, through_outage
from bot.metrics import REGISTRY
from bot.store.intake import IntakeEntry, IntakeStore, entry_id_for
from bot.store.liveness import Liveness

if TYPE_CHECKING:
    from bot.slack.background import Background

logger = logging.getLogger(__name__)

#: A `response_url` works for 30 minutes; past this age the answer goes by DM.
RESPONSE_URL_SECONDS = 29 * 60
#: Set in a payload whose `response_url` expired before its work ran: answer by DM.
URL_EXPIRED = "_response_url_expired"
#: Set in a payload worked again (adopted, or after Redis came back): a request
#: found already done is answered as done ("on its way"), not as a repeat.
RERUN = "_rerun"
#: Redis away mid-work: the work is tried again this often, for this long.
OUTAGE_RETRY_EVERY = 1.0
OUTAGE_RETRY_SECONDS = 300.0
#: Seconds between looks for dead processes' entries.
ADOPT_EVERY = 1.0

SLACK_INTAKE_BACKLOG = Gauge(
    "slack_intake_backlog",
    "Agents' submissions stored and not yet worked, every process's (read every second).",
    registry=REGISTRY,
)
SLACK_INTAKE_ADOPTED = Counter(
    "slack_intake_adopted_total",
    "Agents' submissions this process took over from a dead one.",
    registry=REGISTRY,
)
SLACK_INTAKE_DROPPED = Counter(
    "slack_intake_dropped_total",
    "Submissions dropped after failing in every process that took them over.",
    registry=REGISTRY,
)

Work = Callable[[dict[str, Any], str], Awaitable[None]]
OnError = Callable[[dict[str, Any], str], Callable[[BaseException], Awaitable[None]]]


@dataclass(frozen=True)
class _Kind:
    work: Work
    on_error: OnError | None


def slack_key(body: Mapping[str, Any]) -> str:
    """Slack's own identifiers of a submission: a retry of it carries the same.

    A command: its `trigger_id`; a modal submission: the view's id and hash
    (each redraw changes the hash); a button: the action's `action_ts` and the
    user (each click has its own).
    """
    kind = body.get("type")
    if kind == "view_submission":
        view = body.get("view") or {}
        return f"view:{view.get('id')}:{view.get('hash')}"
    if kind == "block_actions":
        action = (body.get("actions") or [{}])[0]
        user = (body.get("user") or {}).get("id")
        return f"act:{action.get('action_id')}:{action.get('action_ts')}:{user}"
    return f"cmd:{body.get('command')}:{body.get('trigger_id')}"


class InDoubt(Exception):
    """Redis dropped while taking a submission: it may have been taken (and so
    will be worked) or not. The agent is told "not sure yet, we'll tell you",
    never "nothing was sent"; `SlackIntake` finds out once Redis is back and
    tells the outcome (`SlackIntake._settle`)."""


class Unsettled(InDoubt):
    """Redis stayed away too long to find out what became of a take in doubt."""


class SlackIntake:
    def __init__(
        self,
        store: IntakeStore,
        background: Background,
        liveness: Liveness,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.background = background
        self.liveness = liveness
        self.clock = clock
        self._kinds: dict[str, _Kind] = {}

    @property
    def owner(self) -> str:
        return self.liveness.name

    def on(self, kind: str, work: Work, on_error: OnError | None = None) -> None:
        """Register how a kind of submission is worked (idempotently), and how a
        failure is told to the agent."""
        self._kinds[kind] = _Kind(work, on_error)

    async def submit(self, kind: str, body: dict[str, Any], lang: str) -> bool:
        """Store the submission, then work it after the ack. False: taken before
        (a retry), nothing more to do."""
        if kind not in self._kinds:
            raise KeyError(f"no work registered for {kind!r}")
        entry = IntakeEntry(entry_id_for(slack_key(body)), kind, body, lang, self.clock())
        try:
            taken = await self.store.take(entry, self.owner)
        except Exception as error:
            if not is_outage(error):
                raise
            # The call may have run with its answer lost (the connection dropped
            # after sending it, or a retry of it could not connect): find out
            # once Redis is back, and work it or say it was not done.
            self.background.run(self._settle(entry))
            raise InDoubt(type(error).__name__) from error
        if not taken:
            logger.info("submission taken before: not again", extra={"kind": kind})
            return False
        self._start(entry)
        return True

    def _on_error(self, entry: IntakeEntry) -> Callable[[BaseException], Awaitable[None]] | None:
        kind = self._kinds.get(entry.kind)
        return kind.on_error(dict(entry.body), entry.lang) if kind and kind.on_error else None

    async def _settle(self, entry: IntakeEntry) -> None:
        """A take in doubt (`InDoubt`): once Redis answers, work the entry if the
        lost call took it, else tell the agent it was not done (and mark it seen,
        so the lost call can never take it later)."""
        on_error = self._on_error(entry)
        try:
            settled = await through_outage(
                lambda: self.store.settle(entry, self.owner),
                until=asyncio.get_running_loop().time() + OUTAGE_RETRY_SECONDS,
                every=OUTAGE_RETRY_EVERY,
                what="submission in doubt",
            )
        except Exception as error:
            logger.error(
                "submission in doubt not settled",
                extra={"kind": entry.kind, "error": type(error).__name__},
            )
            if on_error is not None:  # we can't say: not "nothing was sent"
                await on_error(Unsettled(type(error).__name__))
            return
        logger.info("submission in doubt settled", extra={"kind": entry.kind, "as": settled})
        if settled == "ours":
            self._start(entry, rerun=True)
        elif settled == "refused" and on_error is not None:  # "not done, nothing was sent"
            await on_error(RedisConnectionError("Redis was unavailable"))

    def _start(self, entry: IntakeEntry, *, rerun: bool = False) -> None:
        kind = self._kinds.get(entry.kind)
        if kind is None:  # a kind this version no longer has: nothing can work it
            logger.warning("submission of an unknown kind dropped", extra={"kind": entry.kind})
            self.background.run(self.store.finish(entry.id))
            return
        body = dict(entry.body)
        if entry.tries or rerun:
            body[RERUN] = True  # adopted, or taken by a call in doubt: may be part done
        expired = self.clock() - entry.received_at > RESPONSE_URL_SECONDS
        if expired and body.pop("response_url", None) is not None:
            body[URL_EXPIRED] = True  # the answer goes by direct message
        on_error = kind.on_error(body, entry.lang) if kind.on_error else None
        self.background.run(self._work(entry, kind.work, body), on_error=on_error)

    async def _work(self, entry: IntakeEntry, work: Work, body: dict[str, Any]) -> None:
        """Work the entry, then forget it.

        Redis away (mid-work): the same work again once it is back, for up to
        `OUTAGE_RETRY_SECONDS` — the entry is in Redis and was acknowledged, so
        it is done, not refused (the work is idempotent; a repeat answers as
        the first run would). Any other failure is told (`on_error`) and
        forgotten. Cancelled (a shutdown cut short): the entry stays, and the
        next process adopts it.
        """
        gives_up = asyncio.get_running_loop().time() + OUTAGE_RETRY_SECONDS
        again = False

        async def run() -> None:  # a run after the first may find part of it done
            nonlocal again
            rerun, again = again, True
            await work(body | {RERUN: True} if rerun else body, entry.lang)

        try:
            await through_outage(run, until=gives_up, every=OUTAGE_RETRY_EVERY, what="submission")
        except Exception:
            with contextlib.suppress(Exception):
                await self.store.finish(entry.id)  # told the agent (on_error)
            raise
        await through_outage(
            lambda: self.store.finish(entry.id),
            until=gives_up,
            every=OUTAGE_RETRY_EVERY,
            what="submission done",
        )

    async def adopt_dead(self) -> int:
        """Adopt and start the entries of processes whose heartbeat lapsed."""
        owners = await self.store.owners()
        SLACK_INTAKE_BACKLOG.set(len(owners))
        dead = await self.liveness.dead_among(set(owners.values()))
        if not dead:
            return 0
        orphans = {entry: owner for entry, owner in owners.items() if owner in dead}
        adopted, dropped = await self.store.adopt(self.owner, orphans)
        SLACK_INTAKE_DROPPED.inc(len(dropped))
        SLACK_INTAKE_ADOPTED.inc(len(adopted))
        for lost in dropped:
            entry_id = lost if isinstance(lost, str) else lost.id
            logger.error("submission failed too often: dropped", extra={"entry": entry_id})
            on_error = None if isinstance(lost, str) else self._on_error(lost)
            if on_error is not None:  # the agent hears it was not done, not silence
                self.background.run(_tell(on_error, RuntimeError("dropped after every try")))
        for entry in adopted:
            logger.info(
                "adopted a dead process's submission",
                extra={"kind": entry.kind, "tries": entry.tries},
            )
            self._start(entry)
        return len(adopted)

    async def run(self, stop: asyncio.Event) -> None:
        """Adopt dead processes' submissions every `ADOPT_EVERY` s until `stop`; a
        Redis failure is raised (run it under `bot.availability.ride_out`)."""
        while not stop.is_set():
            await self.adopt_dead()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), ADOPT_EVERY)


async def _tell(on_error: Callable[[BaseException], Awaitable[None]], error: Exception) -> None:
    await on_error(error)


def durable(intake: SlackIntake, kind: str) -> Callable[..., Awaitable[None]]:
    """A Bolt listener that stores the submission as `kind`, then acks (its work
    is the function registered with `intake.on(kind, …)`)."""

    async def listener(ack: Any, body: dict[str, Any], context: Any) -> None:
        await intake.submit(kind, body, str(context["lang"]))
        await ack()

    return listener
