"""The web app's keys for the parts the composition root (`bot.app`) puts in it
that belong to the layers above the store: the connectors, the thread queue,
the inbound service and the webhook intake. The keys of the lower parts
(settings, Redis, clock, health) are in `bot.runtime`."""

from __future__ import annotations

from aiohttp import web

from bot.channels.base import Connector
from bot.domain.channels import Channel
from bot.services.inbound import InboundService
from bot.services.webhook_reception import WebhookReception
from bot.slack.threads import ThreadQueue
from bot.store.webhook_intake import WebhookIntakeStore

CONNECTORS_KEY: web.AppKey[dict[Channel, Connector]] = web.AppKey("connectors")
THREADS_KEY = web.AppKey("threads", ThreadQueue)
INBOUND_KEY = web.AppKey("inbound", InboundService)
WEBHOOK_INTAKE_KEY = web.AppKey("webhook_intake", WebhookIntakeStore)
WEBHOOK_RECEPTION_KEY = web.AppKey("webhook_reception", WebhookReception)
