"""Facebook Messenger: the Send API with messaging types and tags, Page webhooks.

* Send: `POST {MESSENGER_API_URL}/me/messages` with the Page access token,
  https://developers.facebook.com/docs/messenger-platform/reference/send-api
* Messaging types and the `HUMAN_AGENT` tag (24 h–7 d) and other tags:
  https://developers.facebook.com/docs/messenger-platform/send-messages/message-tags
* Webhook events (`message`, `message_deliveries`, `message_reads`):
  https://developers.facebook.com/docs/messenger-platform/webhooks
* Profile (webhooks carry no name):
  https://developers.facebook.com/docs/messenger-platform/identity/user-profile
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from bot.channels.base import OutboundRequest, SendResult
from bot.channels.meta import (
    ErrorTable,
    SendApiConnector,
    graph_get,
    messaging_errors,
    profile_name,
)
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.windows import HUMAN_AGENT_TAG, SendMode

#: Meta allows 300 Send API calls/s per Page for text (10/s with audio or video):
#: https://developers.facebook.com/docs/messenger-platform/overview/rate-limiting
#: We stay well under it: a follow-up tool never needs more, and Meta also
#: throttles many messages to one thread.
MESSENGER_MESSAGES_PER_SECOND = 40

MESSENGER_ERRORS = messaging_errors("MESSENGER_PAGE_TOKEN")

OUTSIDE_WINDOW_REASON = "send.messenger.outside_window"


class MessengerConnector(SendApiConnector):
    """Messenger over the Send API with the Page access token.

    `rate_limiter` defaults to 40 sends/s; `timeout` is the total seconds for one call.
    """

    channel = Channel.MESSENGER
    label = "Messenger"
    webhook_object = "page"
    messages_per_second = MESSENGER_MESSAGES_PER_SECOND

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.messenger_page_token is not None

    def errors(self) -> ErrorTable:
        return MESSENGER_ERRORS

    def token(self) -> SecretStr | None:
        return self.settings.messenger_page_token

    def api_url(self) -> str:
        return self.settings.messenger_api_url

    def payload(self, message: OutboundRequest) -> dict[str, Any] | SendResult:
        if message.mode is SendMode.REFUSED:
            return SendResult.outside_window(OUTSIDE_WINDOW_REASON)
        if message.mode not in (SendMode.FREE, SendMode.HUMAN_AGENT, SendMode.MESSAGE_TAG):
            return SendResult.failed(
                "send.mode_unsupported", channel=Channel.MESSENGER.value, mode=message.mode.value
            )
        if not message.content.text.strip():
            return SendResult.failed("send.no_text")
        payload: dict[str, Any] = {
            "recipient": {"id": message.recipient},
            "messaging_type": "RESPONSE",
            "message": {"text": message.content.text},
        }
        if message.mode is SendMode.HUMAN_AGENT:
            payload.update(messaging_type="MESSAGE_TAG", tag=HUMAN_AGENT_TAG)
        elif message.mode is SendMode.MESSAGE_TAG:
            if not message.content.tag:
                return SendResult.failed("send.messenger.no_tag")
            payload.update(messaging_type="MESSAGE_TAG", tag=message.content.tag)
        return payload

    async def profile(self, psid: str) -> tuple[str, str]:
        """The customer's (first, last) name from the User Profile API; ("", "") on failure."""
        token = self.settings.messenger_page_token
        if token is None:
            return "", ""
        body = await graph_get(
            self.http,
            f"{self.settings.messenger_api_url}/{psid}",
            token,
            {"fields": "first_name,last_name"},
            timeout_seconds=self.timeout,
        )
        return profile_name(body, first="first_name", last="last_name")
