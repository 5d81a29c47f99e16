"""Which connectors this deployment offers: those whose credentials are set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import aiohttp

from bot.channels.base import Connector, ProfileLookup
from bot.channels.email import EmailConnector
from bot.channels.instagram import InstagramConnector
from bot.channels.line import LineConnector
from bot.channels.messenger import MessengerConnector
from bot.channels.sms import SmsConnector
from bot.channels.telegram import TelegramConnector
from bot.channels.viber import ViberConnector
from bot.channels.webchat import WebchatConnector
from bot.channels.wechat import WeChatConnector
from bot.channels.whatsapp import WhatsAppConnector
from bot.config import Settings
from bot.domain.channels import Channel
from bot.media.store import MediaStore
from bot.store.connection import RedisClient
from bot.store.keys import Keys
from bot.store.wechat import WeChatStore


class _ConnectorClass(Protocol):
    """A connector class that needs only the settings and the HTTP session."""

    def __call__(self, settings: Settings, http: aiohttp.ClientSession) -> Connector: ...

    def configured(self, settings: Settings) -> bool: ...


#: In the order the channels are offered; WeChat (which also needs Redis) comes last.
_CONNECTORS: tuple[_ConnectorClass, ...] = (
    WhatsAppConnector,
    MessengerConnector,
    InstagramConnector,
    TelegramConnector,
    LineConnector,
    ViberConnector,
    SmsConnector,
    EmailConnector,
    WebchatConnector,
)


def build_connectors(
    settings: Settings,
    http: aiohttp.ClientSession,
    redis: RedisClient,
    keys: Keys,
    media: MediaStore | None = None,
) -> dict[Channel, Connector]:
    """One connector per configured channel (a channel without credentials is not
    offered); those that send files read them from `media`."""
    connectors: dict[Channel, Connector] = {}
    for connector_class in _CONNECTORS:
        if connector_class.configured(settings):
            connector = connector_class(settings, http)
            connectors[connector.channel] = connector
    if WeChatConnector.configured(settings):
        connectors[Channel.WECHAT] = WeChatConnector(
            settings,
            http,
            store=WeChatStore(redis, keys),
        )
    for connector in connectors.values():
        if hasattr(connector, "media"):
            connector.media = media
    return connectors


def profile_lookups(connectors: Mapping[Channel, Connector]) -> dict[Channel, ProfileLookup]:
    """Channels whose webhooks carry no name but whose profile API gives it."""
    lookups: dict[Channel, ProfileLookup] = {}
    for channel, connector in connectors.items():
        profile = getattr(connector, "profile", None)
        if profile is not None:
            lookups[channel] = profile
    return lookups
