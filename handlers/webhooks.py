"""`GET|POST /webhooks/{channel}`: the channels' inbound messages and receipts.

Thin: verify as the channel signs (401 and no change when it fails), answer
subscribe handshakes, parse (400 for a well-signed but malformed body), store
the events for processing, answer what the channel expects.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bot.app_keys import CONNECTORS_KEY, WEBHOOK_RECEPTION_KEY
from bot.channels.base import (
    MalformedWebhook,
    WebhookReply,
    WebhookRequest,
    check_event_times,
)
from bot.domain.channels import Channel
from bot.domain.clock import utc_now
from bot.request_limits import EMAIL_MAX_BODY_BYTES, WEBHOOK_MAX_BODY_BYTES, read_body
from bot.runtime import CLOCK_KEY, SETTINGS_KEY

logger = logging.getLogger(__name__)


#: A body larger than this is parsed in a worker thread: an e-mail of several MB
#: takes a few hundred ms to parse, which the event loop must not wait out.
PARSE_IN_THREAD_BYTES = 256 * 1024


def body_limit(channel: Channel) -> int:
    """The largest body `/webhooks/{channel}` reads (413 past it, before verification)."""
    return EMAIL_MAX_BODY_BYTES if channel is Channel.EMAIL else WEBHOOK_MAX_BODY_BYTES


def _reply(reply: WebhookReply) -> web.Response:
    return web.Response(status=reply.status, text=reply.body, content_type=reply.content_type)


async def _webhook_request(request: web.Request, channel: Channel) -> WebhookRequest:
    settings = request.app[SETTINGS_KEY]
    base = str(settings.public_base_url).rstrip("/") if settings.public_base_url else None
    # Twilio signs the URL it called: behind a proxy that is the public one.
    url = f"{base}{request.path_qs}" if base else str(request.url)
    body = await read_body(request, body_limit(channel))
    return WebhookRequest(
        method=request.method,
        url=url,
        headers=request.headers,
        query=dict(request.query),
        body=body,
    )


async def webhook(request: web.Request) -> web.Response:
    try:
        channel = Channel(request.match_info["channel"])
    except ValueError:
        raise web.HTTPNotFound(text="unknown channel") from None
    connector = request.app[CONNECTORS_KEY].get(channel)
    if connector is None:
        raise web.HTTPNotFound(text=f"{channel.value} is not set up")
    hook = await _webhook_request(request, channel)
    if request.method == "GET":
        handshake = connector.handshake(hook)
        if handshake is None:
            raise web.HTTPMethodNotAllowed("GET", ["POST"])
        return _reply(handshake)
    if not connector.verify(hook):
        logger.warning("webhook signature refused", extra={"channel": channel.value})
        raise web.HTTPUnauthorized(text="bad signature")
    try:
        if len(hook.body) > PARSE_IN_THREAD_BYTES:
            events = await asyncio.to_thread(connector.parse, hook)
        else:
            events = connector.parse(hook)
        check_event_times(events, request.app.get(CLOCK_KEY, utc_now)())
    except MalformedWebhook as error:
        logger.warning("malformed webhook", extra={"channel": channel.value, "error": str(error)})
        raise web.HTTPBadRequest(text="malformed body") from None
    except Exception as error:  # parsing is pure: whatever it trips on is the body's doing
        logger.error(
            "unreadable webhook", extra={"channel": channel.value, "error": type(error).__name__}
        )
        raise web.HTTPBadRequest(text="malformed body") from None
    # Stored (one round trip) and answered at once; processed after, at least
    # once (bot.services.webhook_intake). Redis away: 503, and the channel retries.
    if not await request.app[WEBHOOK_RECEPTION_KEY].receive(connector, hook, events):
        logger.warning("webhook replay refused", extra={"channel": channel.value})
        raise web.HTTPForbidden(text="replayed request")
    return _reply(connector.reply(events))


def register(app: web.Application) -> None:
    app.router.add_route("GET", "/webhooks/{channel}", webhook)
    app.router.add_route("POST", "/webhooks/{channel}", webhook)
