"""The ten customer channels and their fixed traits."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """A customer messaging channel; the value is the route and settings name."""

    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    TELEGRAM = "telegram"
    LINE = "line"
    VIBER = "viber"
    WECHAT = "wechat"
    SMS = "sms"
    EMAIL = "email"
    WEBCHAT = "webchat"


#: Human names, for logs and as catalogue parameters.
CHANNEL_LABELS: dict[Channel, str] = {
    Channel.WHATSAPP: "WhatsApp",
    Channel.MESSENGER: "Messenger",
    Channel.INSTAGRAM: "Instagram",
    Channel.TELEGRAM: "Telegram",
    Channel.LINE: "LINE",
    Channel.VIBER: "Viber",
    Channel.WECHAT: "WeChat",
    Channel.SMS: "SMS",
    Channel.EMAIL: "E-mail",
    Channel.WEBCHAT: "Website chat",
}

#: Channels whose delivery receipts name a message by the channel's id for it,
#: so that id must be remembered when the message is sent. Telegram, LINE,
#: WeChat and e-mail send no receipts (see each connector's module docstring).
RECEIPTS_BY_CHANNEL_ID: frozenset[Channel] = frozenset(
    {
        Channel.WHATSAPP,
        Channel.MESSENGER,
        Channel.INSTAGRAM,
        Channel.VIBER,
        Channel.SMS,
        Channel.WEBCHAT,
    }
)
