"""How long a follow-up's text may be on each channel, as data.

Each channel measures its limit its own way; the composer checks a text
against the limit before anything is queued, so an agent gets a field error
instead of a channel refusing the message later. Sources:

* WhatsApp text body, 4,096 characters:
  https://developers.facebook.com/docs/whatsapp/cloud-api/messages/text-messages
* Messenger, 2,000 characters:
  https://developers.facebook.com/docs/messenger-platform/reference/send-api/
* Instagram, "UTF-8 and 1000 bytes or less":
  https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message
* Telegram `sendMessage`, 4,096 characters after entity parsing (Telegram
  counts UTF-16 code units): https://core.telegram.org/bots/api#sendmessage
* LINE text message, 5,000 characters (UTF-16):
  https://developers.line.biz/en/reference/messaging-api/#text-message
* Viber `send_message` text, 7,000 characters:
  https://developers.viber.com/docs/api/rest-bot-api/#text-message
* WeChat customer-service text: the API answers 45002 "content size out of
  limit" past 2,048 bytes of UTF-8 (not in the reference; measured and
  confirmed on WeChat's developer forum), so bytes, not characters.
* SMS through Twilio, 1,600 characters:
  https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
* E-mail and the website chat have no channel limit; ours keep messages sane.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from bot.domain.channels import Channel

__all__ = ["TEXT_LIMITS", "TextLimit", "Unit", "text_limit"]


class Unit(StrEnum):
    """What a channel counts."""

    CHARACTERS = "characters"  # Unicode code points
    UTF16 = "utf16"  # UTF-16 code units: an emoji outside the BMP counts 2
    BYTES = "bytes"  # UTF-8 bytes: a Chinese or Arabic character counts 2-3


@dataclass(frozen=True)
class TextLimit:
    """At most `amount` of `unit` in one message."""

    amount: int
    unit: Unit = Unit.CHARACTERS

    def measure(self, text: str) -> int:
        """The size of `text` in this limit's unit."""
        if self.unit is Unit.BYTES:
            return len(text.encode("utf-8"))
        if self.unit is Unit.UTF16:
            return len(text.encode("utf-16-le")) // 2
        return len(text)


TEXT_LIMITS: Mapping[Channel, TextLimit] = MappingProxyType(
    {
        Channel.WHATSAPP: TextLimit(4096),
        Channel.MESSENGER: TextLimit(2000),
        Channel.INSTAGRAM: TextLimit(1000, Unit.BYTES),
        Channel.TELEGRAM: TextLimit(4096, Unit.UTF16),
        Channel.LINE: TextLimit(5000, Unit.UTF16),
        Channel.VIBER: TextLimit(7000),
        Channel.WECHAT: TextLimit(2048, Unit.BYTES),
        Channel.SMS: TextLimit(1600),
        Channel.EMAIL: TextLimit(100_000),
        Channel.WEBCHAT: TextLimit(5000),
    }
)


def text_limit(channel: Channel) -> TextLimit:
    """The text limit of `channel` (every channel has one)."""
    return TEXT_LIMITS[channel]
