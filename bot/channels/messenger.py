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

from collections.abc import Sequence
from typing import Any

import aiohttp

from bot.channels.base import (
    OutboundRequest,
    RateLimiter,
    SendResult,
    WebhookEvent,
    WebhookReply,
    WebhookRequest,
)
from bot.channels.meta import (
    DEFAULT_TIMEOUT_SECONDS,
    GraphSender,
    graph_get,
    messaging_errors,
    ok_reply,
    parse_messaging_webhook,
    profile_name,
    subscribe_handshake,
    verify_signature,
)
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.windows import HUMAN_AGENT_TAG, SendMode

#: Meta allows 300 Send API calls/s per Page for text (10/s with audio or video):
#: https://developers.facebook.com/docs/messenger-platform/overview/rate-limiting
#: We stay well under it: a follow-up tool never needs more, and Meta also
#: throttles many messages to one thread.
MESSENGER_MESSAGES_PER_SECOND = 40

MESSENGER_ERRORS = messaging_errors("Messenger", "MESSENGER_PAGE_TOKEN")

OUTSIDE_WINDOW_REASON = (
    "The customer last wrote on Messenger too long ago and no message tag applies: "
    "nothing can be sent until they write again"
)


class MessengerConnector:
    """Messenger over the Send API with the Page access token.

    `rate_limiter` defaults to 40 sends/s; `timeout` is the total seconds for one call.
    """

    channel = Channel.MESSENGER

    def __init__(
        self,
        settings: Settings,
        http: aiohttp.ClientSession,
        *,
        rate_limiter: RateLimiter | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.settings = settings
        self.http = http
        self.timeout = timeout
        self.sender = GraphSender(
            http=http,
            channel=self.channel,
            errors=MESSENGER_ERRORS,
            limiter=rate_limiter
            or RateLimiter(rate=MESSENGER_MESSAGES_PER_SECOND, burst=MESSENGER_MESSAGES_PER_SECOND),
            timeout=timeout,
        )

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.messenger_page_token is not None

    async def send(self, message: OutboundRequest) -> SendResult:
        token = self.settings.messenger_page_token
        if token is None:
            return SendResult.failed("Messenger is not configured")
        built = self._payload(message)
        if isinstance(built, SendResult):
            return built
        url = f"{self.settings.messenger_api_url}/me/messages"
        return await self.sender.post(url, token, built, _message_id)

    def _payload(self, message: OutboundRequest) -> dict[str, Any] | SendResult:
        if message.mode is SendMode.REFUSED:
            return SendResult.outside_window(OUTSIDE_WINDOW_REASON)
        if message.mode not in (SendMode.FREE, SendMode.HUMAN_AGENT, SendMode.MESSAGE_TAG):
            return SendResult.failed(f"Messenger cannot send a {message.mode.value} message")
        if not message.text.strip():
            return SendResult.failed("The message has no text")
        payload: dict[str, Any] = {
            "recipient": {"id": message.recipient},
            "messaging_type": "RESPONSE",
            "message": {"text": message.text},
        }
        if message.mode is SendMode.HUMAN_AGENT:
            payload.update(messaging_type="MESSAGE_TAG", tag=HUMAN_AGENT_TAG)
        elif message.mode is SendMode.MESSAGE_TAG:
            if not message.tag:
                return SendResult.failed("No Messenger message tag was chosen")
            payload.update(messaging_type="MESSAGE_TAG", tag=message.tag)
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

    def verify(self, request: WebhookRequest) -> bool:
        return verify_signature(request, self.settings.meta_app_secret)

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        return subscribe_handshake(request, self.settings.meta_verify_token)

    def parse(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        """Messages, deliveries and reads of `{"object": "page"}` webhooks."""
        return parse_messaging_webhook(request.body, self.channel, "page")

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        return ok_reply()


def _message_id(body: Any) -> str | None:
    """`{"recipient_id": ..., "message_id": "m_..."}` → the mid."""
    if isinstance(body, dict):
        mid = body.get("message_id")
        if isinstance(mid, str) and mid:
            return mid
    return None
