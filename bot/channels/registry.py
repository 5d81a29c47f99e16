"""Which connectors this deployment offers: those whose credentials are set."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from bot.channels.base import Connector
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
from bot.services.inbound import ProfileLookup
from bot.store.connection import RedisClient
from bot.store.keys import Keys


def build_connectors(
    settings: Settings, http: aiohttp.ClientSession, redis: RedisClient, keys: Keys
) -> dict[Channel, Connector]:
    """One connector per configured channel (a channel without credentials is not offered)."""
    connectors: dict[Channel, Connector] = {}
    if WhatsAppConnector.configured(settings):
        connectors[Channel.WHATSAPP] = WhatsAppConnector(settings, http)
    if MessengerConnector.configured(settings):
        connectors[Channel.MESSENGER] = MessengerConnector(settings, http)
    if InstagramConnector.configured(settings):
        connectors[Channel.INSTAGRAM] = InstagramConnector(settings, http)
    if TelegramConnector.configured(settings):
        connectors[Channel.TELEGRAM] = TelegramConnector(settings, http)
    if LineConnector.configured(settings):
        connectors[Channel.LINE] = LineConnector(settings, http)
    if ViberConnector.configured(settings):
        connectors[Channel.VIBER] = ViberConnector(settings, http)
    if SmsConnector.configured(settings):
        connectors[Channel.SMS] = SmsConnector(settings, http)
    if EmailConnector.configured(settings):
        connectors[Channel.EMAIL] = EmailConnector(settings, http)
    if WebchatConnector.configured(settings):
        connectors[Channel.WEBCHAT] = WebchatConnector(settings, http)
    if WeChatConnector.configured(settings):
        connectors[Channel.WECHAT] = WeChatConnector(
            settings, http, redis=redis, token_key=keys.wechat_token()
        )
    return connectors


def profile_lookups(connectors: Mapping[Channel, Connector]) -> dict[Channel, ProfileLookup]:
    """Channels whose webhooks carry no name but whose profile API gives it."""
    lookups: dict[Channel, ProfileLookup] = {}
    for channel, connector in connectors.items():
        profile = getattr(connector, "profile", None)
        if profile is not None:
            lookups[channel] = profile
    return lookups
