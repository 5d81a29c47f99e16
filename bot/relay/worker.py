"""The worker process (`followup worker`, and `serve` unless RELAY_IN_PROCESS=false).

Runs the outbox relay and, where Slack is set up, the thread poster, until
told to stop; a message being sent is finished first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from redis.exceptions import RedisError
from slack_sdk.web.async_client import AsyncWebClient

from bot.availability import ride_out, run_until_stopped
from bot.channels.whatsapp_templates import fetch_approved_templates
from bot.config import Settings
from bot.domain.clock import utc_now
from bot.relay.due import DueRunner
from bot.relay.relay import Relay, RelayTuning
from bot.runtime import http_session, keys_for, policy_settings
from bot.services.alerts import with_alerts
from bot.services.followup import FollowupService
from bot.services.inbound import ThreadSink
from bot.services.scheduling import Scheduling
from bot.services.template_sync import TemplateSync
from bot.slack.alerts import alert_sender
from bot.slack.people import slack_people
from bot.slack.schedule_notices import SlackScheduleNotices
from bot.slack.threads import ThreadPoster, ThreadQueue
from bot.store.connection import RedisClient
from bot.store.contacts import ContactStore
from bot.store.keys import Keys
from bot.store.liveness import Liveness, process_name
from bot.store.outbox import OutboxStore
from bot.store.schedule import ScheduleStore

logger = logging.getLogger(__name__)


def consumer_name() -> str:
    """Unique per process (and per start): a consumer that dies is recognised by its name."""
    return process_name()


async def run_worker(
    settings: Settings,
    redis: RedisClient,
    stop: asyncio.Event,
    liveness: Liveness | None = None,
) -> None:
    """Relay outbox messages (and post thread entries) until `stop` is set.

    `liveness`: the process's heartbeat when something else beats it (`serve`,
    `bot.app.heartbeat_ctx`); without it, the worker beats its own."""
    keys = keys_for(settings)
    if liveness is not None:
        await _run_tasks(settings, redis, stop, keys, liveness.name, liveness)
        logger.info("relay worker stopped")
        return
    name = consumer_name()
    # The heartbeat runs first: the others must see us alive before we hold anything.
    liveness = Liveness(redis, keys, name)
    with contextlib.suppress(RedisError, OSError):  # Redis away: the loop beats when it is back
        await liveness.beat()
    beating = asyncio.create_task(liveness.run(stop), name="heartbeat")
    try:
        await _run_tasks(settings, redis, stop, keys, name, liveness)
    finally:
        stop.set()
        await beating
    logger.info("relay worker stopped")


async def _run_tasks(
    settings: Settings,
    redis: RedisClient,
    stop: asyncio.Event,
    keys: Keys,
    name: str,
    liveness: Liveness,
) -> None:
    from bot.channels.registry import build_connectors

    async with http_session() as http:
        connectors = build_connectors(settings, http, redis, keys)
        # Failed and ❗ messages also raise their sender's personal alert.
        threads = with_alerts(ThreadQueue(redis, keys), ContactStore(redis, keys), utc_now)
        relay = Relay(
            redis,
            keys,
            connectors,
            policy_settings(settings),
            utc_now,
            consumer=name,
            threads=threads,
            tuning=RelayTuning(claim_idle_ms=int(settings.relay_claim_idle_seconds * 1000)),
            liveness=liveness,
        )
        # Each loop rides out a Redis outage: it backs off and starts again.
        tasks = [asyncio.create_task(ride_out("relay", relay.run, stop), name="relay")]
        alerts = alert_sender(settings, redis, keys, http, utc_now, name=name)
        if alerts is not None:
            tasks.append(asyncio.create_task(ride_out("alerts", alerts.run, stop), name="alerts"))
        if settings.whatsapp_token is not None and settings.whatsapp_business_account_id:
            templates = TemplateSync(
                redis,
                keys,
                lambda: fetch_approved_templates(settings, http),
                name=name,
            )
            tasks.append(
                asyncio.create_task(ride_out("templates", templates.run, stop), name="templates")
            )
        tasks.append(
            asyncio.create_task(
                ride_out("schedule", due_runner(settings, redis, keys, threads, http).run, stop),
                name="schedule",
            )
        )
        if settings.slack_bot_token and settings.support_channel:
            slack = AsyncWebClient(
                token=settings.slack_bot_token.get_secret_value(),
                base_url=settings.slack_api_url,
                session=http,
            )
            contacts = ContactStore(redis, keys)
            outbox = OutboxStore(contacts)
            poster = ThreadPoster(
                redis,
                keys,
                slack,
                settings.support_channel,
                contacts=contacts,
                outbox=outbox,
                # The root shows each window as the deployment's policy decides it.
                followups=FollowupService(contacts, outbox, policy_settings(settings), utc_now),
                schedule=ScheduleStore(redis, keys),
                lang=settings.default_language,
                name=name,
            )
            tasks.append(asyncio.create_task(ride_out("threads", poster.run, stop), name="threads"))
        logger.info(
            "relay worker running",
            extra={"channels": sorted(c.value for c in connectors), "consumer": name},
        )
        try:
            # Once stopped, a loop has STOP_GRACE_SECONDS to finish what it holds
            # (a send in flight, a Slack post): a blocked HTTP call is cut short.
            await run_until_stopped(tasks, stop)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def due_runner(
    settings: Settings,
    redis: RedisClient,
    keys: Keys,
    threads: ThreadSink,
    http: aiohttp.ClientSession,
) -> DueRunner:
    """Scheduled follow-ups and reminders, done when due (in every replica)."""
    contacts = ContactStore(redis, keys)
    followups = FollowupService(
        contacts, OutboxStore(contacts), policy_settings(settings), utc_now, threads=threads
    )
    client = people = None
    if settings.slack_bot_token is not None:
        client = AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url,
            session=http,
        )
        people = slack_people(
            redis,
            keys,
            client,
            default_language=settings.default_language,
            agents=settings.agents,
            managers=settings.managers,
        )
    notices = SlackScheduleNotices(
        ThreadQueue(redis, keys), contacts, client, people, settings.default_language
    )
    scheduling = Scheduling(ScheduleStore(redis, keys), contacts, followups, utc_now, notices)
    return DueRunner(
        scheduling.store,
        utc_now,
        scheduling.fire,
        lease_ms=int(settings.schedule_lease_seconds * 1000),
    )
