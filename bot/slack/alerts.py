"""Personal alerts as direct messages, sent from the worker (SPEC "Slack surface").

`AlertSender` drains the alert queue (`bot.store.alerts`) like the thread
poster drains its own: one active sender across replicas (a Redis lock),
within a rate, honouring `Retry-After`; a Slack outage keeps every alert
queued, and its "sent once" claim is released so it goes out later. Even two
senders racing send each event once (the claim is a SET NX).

Each alert is rendered when it is sent, in the recipient's language, from
the store as it is then: a window alert whose conversation was closed, or
whose customer wrote again meanwhile, is not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.base import RateLimiter
from bot.config import Settings
from bot.domain.clock import Clock
from bot.domain.windows import PolicySettings
from bot.runtime import policy_settings
from bot.services.alerts import Alert, AlertKind, AlertService
from bot.services.followup import FollowupService
from bot.services.people import People
from bot.slack.blocks.alerts import alert_message
from bot.slack.links import ThreadLinks
from bot.slack.payloads import block_kit_json
from bot.slack.people import deployment_people
from bot.slack.web_calls import SETUP_ERRORS, SlackCalls, SlackUnavailable, slack_error
from bot.store.alerts import AlertStore, Claim
from bot.store.connection import RedisClient
from bot.store.contacts import ContactStore
from bot.store.keys import ContactId, Keys
from bot.store.outbox import OutboxStore
from bot.store.thread_queue import ThreadLinkStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertTuning:
    rate: float = 5.0  # direct messages per second (each to its own DM channel)
    burst: int = 10
    idle_wait: float = 0.5  # seconds between looks at an empty queue
    lock_ms: int = 15_000
    max_pause: float = 60.0  # longest wait after errors (Slack down)
    sweep_every: float = 30.0  # seconds between window sweeps


# --- sending ---------------------------------------------------------------------------


class AlertSender:
    """Sends queued alerts as direct messages; one active sender across replicas."""

    def __init__(
        self,
        redis: RedisClient,
        keys: Keys,
        slack: AsyncWebClient,
        clock: Clock,
        *,
        people: People,
        policy: PolicySettings,
        support_channel: str | None,
        alert_minutes: int = 60,
        name: str = "alerts",
        tuning: AlertTuning = AlertTuning(),
    ) -> None:
        self.slack = slack
        self.clock = clock
        self.people = people
        self.policy = policy
        self.name = name
        self.tuning = tuning
        self.store = AlertStore(redis, keys)
        contacts = ContactStore(redis, keys)
        self.outbox = OutboxStore(contacts)
        self.service = AlertService(self.store, contacts, clock, alert_minutes=alert_minutes)
        self.followups = FollowupService(contacts, self.outbox, policy, clock)
        self.links = ThreadLinks(ThreadLinkStore(redis, keys), slack, support_channel)
        self._limiter = RateLimiter(tuning.rate, tuning.burst)
        self._calls = SlackCalls(slack, tuning.max_pause)

    async def run(self, stop: asyncio.Event) -> None:
        last_sweep = float("-inf")
        while not stop.is_set():
            pause = self.tuning.idle_wait
            if await self._hold_lock():
                try:
                    if time.monotonic() - last_sweep >= self.tuning.sweep_every:
                        await self.service.sweep_windows()
                        last_sweep = time.monotonic()
                    if await self.flush(limit=20):
                        pause = 0
                except SlackUnavailable as unavailable:
                    pause = unavailable.pause
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)

    async def _hold_lock(self) -> bool:
        return await self.store.hold(self.name, self.tuning.lock_ms)

    async def flush(self, limit: int = 100) -> int:
        """Send up to `limit` due alerts, oldest first; returns how many left the queue.

        Raises SlackUnavailable (with how long to wait) when Slack refuses; the
        alert being sent stays queued and its claim is released.
        """
        handled = 0
        for pending in await self.store.due(limit):
            alert = Alert.from_payload(pending.payload)
            if alert is None:
                logger.error("malformed alert dropped", extra={"entry": pending.entry})
                await self.store.done(pending)
                continue
            claim = await self.store.claim(alert.event, self.name)
            if claim is Claim.BUSY:
                continue  # another sender is on it
            if claim is Claim.ALREADY_SENT:
                await self.store.done(pending)
                handled += 1
                continue
            try:
                sent = await self._deliver(alert)
            except SlackApiError as error:
                await self.store.release(alert.event, self.name)
                code = slack_error(error)
                if code in SETUP_ERRORS:
                    logger.error("slack refused the app", extra={"error": code})
                    raise SlackUnavailable(self.tuning.max_pause) from None
                # This one can never be sent (the user left, say): drop it.
                logger.error("alert dropped", extra={"error": code, "kind": alert.kind.value})
                await self.store.done(pending)
                handled += 1
                continue
            except SlackUnavailable:
                await self.store.release(alert.event, self.name)
                raise
            except Exception:  # the edge: one bad alert must not stop the others
                logger.exception("alert failed", extra={"kind": alert.kind.value})
                await self.store.release(alert.event, self.name)
                await self.store.postpone(pending, self.tuning.max_pause)
                continue
            except BaseException:  # cancelled mid-send: it goes out later
                await self.store.release(alert.event, self.name)
                raise
            if sent:
                await self.store.mark_sent(alert.event)
            else:
                await self.store.release(alert.event, self.name)
            await self.store.done(pending)
            handled += 1
        return handled

    async def _deliver(self, alert: Alert) -> bool:
        """Render and send one alert; False when it no longer applies."""
        contact = await self.service.still_relevant(alert)
        if contact is None:
            return False
        message = None
        if alert.kind is AlertKind.MESSAGE_FAILED:
            partition = ContactId.parse(contact.id).partition
            message = await self.outbox.get_message(partition, alert.message_id)
            if message is None:
                return False
        decision = None
        if alert.channel is not None and alert.channel in contact.identities:
            decision = await self.followups.decision_for(contact, alert.channel)
        link = None
        if contact.conversation.thread_ts:
            links = await self.links.of([contact.conversation.thread_ts])
            link = links.get(contact.conversation.thread_ts)
        lang = await self.people.language(alert.recipient)
        text, blocks = alert_message(
            alert,
            contact,
            message=message,
            decision=decision,
            link=link,
            now=self.clock(),
            lang=lang,
            policy=self.policy,
        )
        await self._call(
            "chat.postMessage",
            channel=alert.recipient,
            text=text,
            blocks=block_kit_json(blocks),
            unfurl_links=False,
        )
        logger.info("alert sent", extra={"kind": alert.kind.value, "contact": contact.id})
        return True

    async def _call(self, method: str, **args: Any) -> Any:
        """One Web API call; 429 and outages become SlackUnavailable."""
        return await self._calls.call(method, self._limiter, **args)


def alert_sender(
    settings: Settings,
    redis: RedisClient,
    keys: Keys,
    http: aiohttp.ClientSession,
    clock: Clock,
    *,
    name: str,
) -> AlertSender | None:
    """The worker's alert sender (None when Slack is not set up)."""
    if settings.slack_bot_token is None:
        return None
    slack = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        session=http,
    )
    return AlertSender(
        redis,
        keys,
        slack,
        clock,
        people=deployment_people(settings, redis, keys, slack),
        policy=policy_settings(settings),
        support_channel=settings.support_channel,
        alert_minutes=settings.window_alert_minutes,
        name=name,
    )
