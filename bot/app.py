"""The composition root: `serve`'s web app, the Slack app, the worker's loops and
what they run on.

Here, and only here, are the stores, the services, the Bolt app and the
background loops built and wired; each Slack listener module is handed only
the services it names (`handlers.register_all`). Shared resources hang on
typed `web.AppKey`s and open and close in `cleanup_ctx`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from redis.exceptions import RedisError
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import web as serve_web
from bot.app_keys import (
    CONNECTORS_KEY,
    INBOUND_KEY,
    THREADS_KEY,
    WEBHOOK_INTAKE_KEY,
    WEBHOOK_RECEPTION_KEY,
)
from bot.availability import STOP_GRACE_SECONDS, RedisHealth, ride_out, run_until_stopped
from bot.channels.line import LineConnector
from bot.channels.whatsapp_templates import fetch_approved_templates
from bot.config import Settings
from bot.domain.clock import Clock, utc_now
from bot.domain.windows import PolicySettings
from bot.media import web as media_web
from bot.media.store import MediaStore
from bot.media.stores import open_media_store
from bot.metrics import metrics_middleware
from bot.relay.due import DueRunner
from bot.relay.relay import Relay, RelayTuning
from bot.request_limits import EMAIL_MAX_BODY_BYTES
from bot.runtime import (
    CLOCK_KEY,
    HEALTH_KEY,
    HTTP_KEY,
    KEYS_KEY,
    LIVENESS_KEY,
    REDIS_KEY,
    SETTINGS_KEY,
    http_session,
    keys_for,
    policy_settings,
)
from bot.services.alerts import with_alerts
from bot.services.closing import CloseService
from bot.services.compose import ComposeService
from bot.services.contact_edit import ContactEditor
from bot.services.conversations import ConversationService
from bot.services.directory import Directory
from bot.services.finding import ContactFinder
from bot.services.followup import FollowupService
from bot.services.home import HomeService
from bot.services.inbound import InboundService, ThreadSink
from bot.services.line_quota import LineQuotaReader
from bot.services.people import People
from bot.services.reopen import ReopenService
from bot.services.scheduling import Scheduling
from bot.services.template_sync import TemplateSync
from bot.services.webhook_intake import WebhookConsumer
from bot.services.webhook_reception import WebhookReception
from bot.slack import serving as slack_serving
from bot.slack.alerts import alert_sender
from bot.slack.answers import Answers
from bot.slack.attachments import SlackAttachments
from bot.slack.background import Background
from bot.slack.bolt import build_bolt_app, slack_web_client
from bot.slack.close_flow import CloseFlow
from bot.slack.compose_flow import ComposeFlow
from bot.slack.home import HomeTabs
from bot.slack.inbound_files import ThreadFiles
from bot.slack.intake import SlackIntake
from bot.slack.links import ThreadLinks
from bot.slack.people import deployment_people
from bot.slack.reopen_flow import ReopenFlow
from bot.slack.schedule_notices import SlackScheduleNotices
from bot.slack.threads import ThreadPoster, ThreadQueue
from bot.store.connection import RedisClient
from bot.store.contacts import ContactStore
from bot.store.intake import IntakeStore
from bot.store.keys import Keys
from bot.store.liveness import Liveness, process_name
from bot.store.outbox import OutboxStore
from bot.store.schedule import ScheduleStore
from bot.store.search import ContactSearch
from bot.store.templates import TemplateStore
from bot.store.thread_queue import ThreadLinkStore, ThreadQueueStore
from bot.store.webhook_intake import WebhookIntakeStore
from handlers import register_all, webhooks

__all__ = [
    "HEALTH_KEY",
    "LIVENESS_KEY",
    "REDIS_KEY",
    "SETTINGS_KEY",
    "SLACK_KEY",
    "ListenerServices",
    "SlackParts",
    "build_slack",
    "build_web_app",
]

logger = logging.getLogger(__name__)


WEBHOOK_CONSUMER_KEY = web.AppKey("webhook_consumer", WebhookConsumer)


async def heartbeat_ctx(app: web.Application) -> AsyncIterator[None]:
    """Beats this process's heartbeat (`bot.store.liveness`) for the web app's
    lifetime: first, so the others see us alive before we hold anything, and
    last, once what we hold is finished or left pending, so that the others
    take what is left at once."""
    liveness = app[LIVENESS_KEY]
    stop = asyncio.Event()
    with contextlib.suppress(RedisError, OSError):  # Redis away: the loop beats when it is back
        await liveness.beat()
    task = asyncio.create_task(liveness.run(stop), name="heartbeat")
    yield
    stop.set()
    await task


async def webhook_consumer_ctx(app: web.Application) -> AsyncIterator[None]:
    """Processes the stored webhook events for the web app's lifetime, riding out
    Redis outages; on shutdown it finishes its batch or leaves it pending."""
    liveness = app[LIVENESS_KEY]
    consumer = WebhookConsumer(
        app[WEBHOOK_INTAKE_KEY], app[INBOUND_KEY], liveness.name, liveness=liveness
    )
    app[WEBHOOK_CONSUMER_KEY] = consumer
    stop = asyncio.Event()
    # Any Redis error, not only an outage: the stored events wait meanwhile.
    loop = ride_out(
        "webhooks",
        consumer.run,
        stop,
        app[HEALTH_KEY],
        retry_on=lambda error: isinstance(error, RedisError),
    )
    task = asyncio.create_task(loop, name="webhooks")

    def on_done(done: asyncio.Task[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            logger.error("webhook consumer failed", exc_info=done.exception())

    task.add_done_callback(on_done)
    yield
    stop.set()
    _, pending = await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
    for late in pending:
        late.cancel()
        with contextlib.suppress(BaseException):
            await late


# --- the channels' side ------------------------------------------------------------


async def channels_ctx(app: web.Application) -> AsyncIterator[None]:
    """Connectors, stores and the inbound service for the webhook routes."""
    from bot.channels.registry import build_connectors, profile_lookups

    settings, redis = app[SETTINGS_KEY], app[REDIS_KEY]
    keys = keys_for(settings)
    http = http_session()
    media = app.get(media_web.MEDIA_STORE_KEY)
    connectors = build_connectors(settings, http, redis, keys, media)
    contacts = ContactStore(redis, keys)
    threads = ThreadQueue(ThreadQueueStore(redis, keys))
    clock = app.get(CLOCK_KEY, utc_now)
    app[KEYS_KEY] = keys
    app[HTTP_KEY] = http
    app[CONNECTORS_KEY] = connectors
    app[THREADS_KEY] = threads
    app[WEBHOOK_INTAKE_KEY] = intake = WebhookIntakeStore(redis, keys)
    app[WEBHOOK_RECEPTION_KEY] = WebhookReception(intake)
    outbox = OutboxStore(contacts)
    # A customer's message releases what waited for it and cancels their
    # reminders; the thread shows it (the schedule's own notices).
    scheduling = Scheduling(
        ScheduleStore(redis, keys),
        contacts,
        FollowupService(contacts, outbox, policy_settings(settings), clock),
        clock,
        SlackScheduleNotices(threads, contacts, None, None, settings.default_language),
    )
    app[INBOUND_KEY] = InboundService(
        contacts,
        outbox,
        clock,
        # Customers' messages and receipts also raise the agents' personal alerts.
        threads=with_alerts(threads, contacts, clock),
        profiles=profile_lookups(connectors),
        customer_wrote=scheduling.customer_wrote,
    )
    try:
        yield
    finally:
        await http.close()


# --- the Slack side ----------------------------------------------------------------

#: How long `serve` keeps the approved WhatsApp templates it read (see TemplateStore).
TEMPLATES_KEPT_SECONDS = 5.0


@dataclass(frozen=True)
class ListenerServices:
    """What the Slack listeners may be handed, by name: services and Slack glue,
    never a store nor Redis. Each listener module's `register` names the ones
    it uses (`handlers.register_all`)."""

    settings: Settings
    clock: Clock
    client: AsyncWebClient
    background: Background
    intake: SlackIntake
    answers: Answers
    people: People
    directory: Directory
    finder: ContactFinder
    reopener: ReopenService
    editor: ContactEditor
    flow: ComposeFlow
    reopen_flow: ReopenFlow
    close_flow: CloseFlow
    home: HomeTabs
    links: ThreadLinks
    scheduling: Scheduling
    attachments: SlackAttachments


@dataclass(frozen=True)
class SlackParts:
    """Everything built for the Slack surface (tests reach in through `SLACK_KEY`)."""

    settings: Settings
    redis: RedisClient
    keys: Keys
    clock: Clock
    policy: PolicySettings
    http: aiohttp.ClientSession
    client: AsyncWebClient
    health: RedisHealth
    contacts: ContactStore
    outbox: OutboxStore
    search: ContactSearch
    templates: TemplateStore
    threads: ThreadQueue
    directory: Directory
    followups: FollowupService
    conversations: ConversationService
    people: People
    background: Background
    intake: SlackIntake
    answers: Answers
    listeners: ListenerServices
    bolt: AsyncApp


SLACK_KEY = web.AppKey("slack", SlackParts)


def line_quota_reader(
    settings: Settings,
    http: aiohttp.ClientSession,
    redis: RedisClient,
    keys: Keys,
    outbox: OutboxStore,
) -> LineQuotaReader | None:
    """LINE's monthly quota for the composer, where LINE is set up."""
    if not LineConnector.configured(settings):
        return None
    line = LineConnector(settings, http, timeout=3.0)
    return LineQuotaReader(outbox, line.quota)


def build_slack(
    settings: Settings,
    redis: RedisClient,
    keys: Keys,
    http: aiohttp.ClientSession,
    threads: ThreadQueue,
    liveness: Liveness,
    health: RedisHealth,
    clock: Clock = utc_now,
    media: MediaStore | None = None,
) -> SlackParts:
    """The Slack surface: its stores, services and the Bolt app with every listener."""
    client = slack_web_client(settings, http)
    contacts = ContactStore(redis, keys)
    outbox = OutboxStore(contacts)
    search = ContactSearch(contacts, default_region=settings.default_phone_region)
    templates = TemplateStore(redis, keys, keep_for=TEMPLATES_KEPT_SECONDS)
    policy = policy_settings(settings)
    background = Background()
    directory = Directory(contacts, search)
    followups = FollowupService(contacts, outbox, policy, clock, threads=threads)
    conversations = ConversationService(
        contacts, clock, close_unassigns=settings.close_unassigns, threads=threads
    )
    people = deployment_people(settings, redis, keys, client)
    intake = SlackIntake(
        IntakeStore(redis, keys), background, liveness, lambda: clock().timestamp()
    )
    answers = Answers(http, client)
    finder = ContactFinder(directory, followups, settings.default_phone_region)
    links = ThreadLinks(ThreadLinkStore(redis, keys), client, settings.support_channel)
    notices = SlackScheduleNotices(threads, contacts, answers, people, settings.default_language)
    scheduling = Scheduling(ScheduleStore(redis, keys), contacts, followups, clock, notices)
    home = HomeTabs(
        HomeService(contacts, followups, policy, clock),
        people,
        links,
        client,
        clock,
        scheduling=scheduling,
    )
    compose = ComposeService(
        contacts,
        followups,
        templates,
        line_quota=line_quota_reader(settings, http, redis, keys, outbox),
    )
    reopener = ReopenService(conversations, contacts, outbox, followups)
    listeners = ListenerServices(
        settings=settings,
        clock=clock,
        client=client,
        background=background,
        intake=intake,
        answers=answers,
        people=people,
        directory=directory,
        finder=finder,
        reopener=reopener,
        editor=ContactEditor(contacts, settings.default_phone_region, clock, threads=threads),
        flow=ComposeFlow(compose, client, clock),
        reopen_flow=ReopenFlow(reopener, directory, finder, home, background, clock),
        close_flow=CloseFlow(CloseService(contacts, conversations, scheduling), home, background),
        home=home,
        links=links,
        scheduling=scheduling,
        attachments=SlackAttachments(http, settings, media),
    )
    bolt = build_bolt_app(
        settings,
        client=client,
        http=http,
        people=people,
        background=background,
        health=health,
        answers=answers,
    )
    register_all(bolt, listeners)
    return SlackParts(
        settings=settings,
        redis=redis,
        keys=keys,
        clock=clock,
        policy=policy,
        http=http,
        client=client,
        health=health,
        contacts=contacts,
        outbox=outbox,
        search=search,
        templates=templates,
        threads=threads,
        directory=directory,
        followups=followups,
        conversations=conversations,
        people=people,
        background=background,
        intake=intake,
        answers=answers,
        listeners=listeners,
        bolt=bolt,
    )


async def slack_ctx(app: web.Application) -> AsyncIterator[None]:
    """The Slack surface for the web app's lifetime: the Bolt app (and its Socket
    Mode connection), and the loop adopting dead processes' submissions."""
    settings = app[SETTINGS_KEY]
    if settings.slack_bot_token is None:
        yield
        return
    slack = build_slack(
        settings,
        app[REDIS_KEY],
        app[KEYS_KEY],
        app[HTTP_KEY],
        app[THREADS_KEY],
        app[LIVENESS_KEY],
        app[HEALTH_KEY],
        app.get(CLOCK_KEY, utc_now),
        app.get(media_web.MEDIA_STORE_KEY),
    )
    app[SLACK_KEY] = slack
    app[slack_serving.BOLT_KEY] = slack.bolt
    socket = await slack_serving.socket_mode(slack.bolt, settings, slack.http)
    # Adopting dead processes' submissions (bot.slack.intake); the heartbeat it
    # goes by is the process's (`heartbeat_ctx`), stopped after this.
    stop = asyncio.Event()
    # Any Redis error, not only an outage: the stored submissions wait meanwhile.
    sweep = ride_out(
        "intake",
        slack.intake.run,
        stop,
        app[HEALTH_KEY],
        retry_on=lambda error: isinstance(error, RedisError),
    )
    adopting = asyncio.create_task(sweep, name="intake")
    try:
        yield
    finally:
        if socket is not None:
            await socket.close_async()  # type: ignore[no-untyped-call]
        stop.set()
        await slack.background.drain(grace=STOP_GRACE_SECONDS)
        await asyncio.gather(adopting, return_exceptions=True)


# --- the worker's side: the relay, alerts, template sync, due follow-ups, the thread poster ---


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

    media = open_media_store(settings)
    async with http_session() as http, contextlib.AsyncExitStack() as closing:
        closing.push_async_callback(media.close)
        connectors = build_connectors(settings, http, redis, keys, media)
        # Failed and ❗ messages also raise their sender's personal alert.
        threads = with_alerts(
            ThreadQueue(ThreadQueueStore(redis, keys)), ContactStore(redis, keys), utc_now
        )
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
                TemplateStore(redis, keys),
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
                ThreadQueueStore(redis, keys),
                slack,
                settings.support_channel,
                contacts=contacts,
                outbox=outbox,
                # The root shows each window as the deployment's policy decides it.
                followups=FollowupService(contacts, outbox, policy_settings(settings), utc_now),
                schedule=ScheduleStore(redis, keys),
                lang=settings.default_language,
                name=name,
                # Customers' files, fetched from their channel into the thread.
                files=ThreadFiles(connectors, http, settings, media),
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
    answers = people = None
    if settings.slack_bot_token is not None:
        client = slack_web_client(settings, http)
        answers = Answers(http, client)
        people = deployment_people(settings, redis, keys, client)
    notices = SlackScheduleNotices(
        ThreadQueue(ThreadQueueStore(redis, keys)),
        contacts,
        answers,
        people,
        settings.default_language,
    )
    scheduling = Scheduling(ScheduleStore(redis, keys), contacts, followups, utc_now, notices)
    return DueRunner(
        scheduling.store,
        utc_now,
        scheduling.fire,
        lease_ms=int(settings.schedule_lease_seconds * 1000),
    )


def relay_ctx(
    settings: Settings, redis: RedisClient, failed: asyncio.Event, stop: asyncio.Event
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Runs a relay worker for the web app's lifetime; stops it before Redis closes.

    It stops as soon as `stop` is set (SIGTERM), alongside the web server's own
    shutdown, not after it."""

    async def relay(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(
            run_worker(settings, redis, stop, app[LIVENESS_KEY]), name="relay"
        )

        def on_done(done: asyncio.Task[None]) -> None:
            if not done.cancelled() and done.exception() is not None and not stop.is_set():
                logger.error("in-process relay failed", exc_info=done.exception())
                failed.set()

        task.add_done_callback(on_done)
        yield
        stop.set()
        with contextlib.suppress(Exception):
            await task

    return relay


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[REDIS_KEY].aclose()


def build_web_app(settings: Settings, redis: RedisClient) -> web.Application:
    """The web app; it owns `redis` from now on and closes it on cleanup."""
    app = web.Application(
        middlewares=[metrics_middleware, serve_web.redis_outage_middleware],
        client_max_size=EMAIL_MAX_BODY_BYTES,
    )
    app[SETTINGS_KEY] = settings
    app[REDIS_KEY] = redis
    app[HEALTH_KEY] = RedisHealth()
    app[LIVENESS_KEY] = Liveness(redis, keys_for(settings), process_name())
    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(heartbeat_ctx)
    media_web.register(app)  # the media store, before the connectors that read it
    app.cleanup_ctx.append(channels_ctx)
    app.cleanup_ctx.append(webhook_consumer_ctx)
    serve_web.register(app)
    app.cleanup_ctx.append(slack_ctx)
    webhooks.register(app)
    slack_serving.register(app)
    return app
