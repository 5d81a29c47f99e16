"""Instagram Direct through the Instagram Messaging API (the Messenger Platform).

* Send: `POST {INSTAGRAM_API_URL}/me/messages` with a Bearer token; between
  24 h and 7 d only with the `HUMAN_AGENT` tag, Instagram's one tag:
  https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api
* Webhooks (`{"object": "instagram"}`, `messages`, `messaging_seen`):
  https://developers.facebook.com/docs/instagram-platform/webhooks
* Profile (`name`, `username`): the webhooks carry no name:
  https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api/user-profile
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
    split_name,
    subscribe_handshake,
    verify_signature,
)
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.windows import HUMAN_AGENT_TAG, SendMode

#: Meta allows 300 Send API calls/s per Instagram professional account for text:
#: https://developers.facebook.com/docs/messenger-platform/overview/rate-limiting
#: We stay well under it, as for Messenger.
INSTAGRAM_MESSAGES_PER_SECOND = 40

INSTAGRAM_ERRORS = messaging_errors("Instagram", "INSTAGRAM_TOKEN")

OUTSIDE_WINDOW_REASON = (
    "The customer last wrote on Instagram more than 7 days ago: nothing can be sent "
    "until they write again"
)


class InstagramConnector:
    """Instagram Direct messages.

    `rate_limiter` defaults to 40 sends/s; `timeout` is the total seconds for one call.
    """

    channel = Channel.INSTAGRAM

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
            errors=INSTAGRAM_ERRORS,
            limiter=rate_limiter
            or RateLimiter(rate=INSTAGRAM_MESSAGES_PER_SECOND, burst=INSTAGRAM_MESSAGES_PER_SECOND),
            timeout=timeout,
        )

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.instagram_token is not None

    async def send(self, message: OutboundRequest) -> SendResult:
        token = self.settings.instagram_token
        if token is None:
            return SendResult.failed("Instagram is not configured")
        built = self._payload(message)
        if isinstance(built, SendResult):
            return built
        url = f"{self.settings.instagram_api_url}/me/messages"
        return await self.sender.post(url, token, built, _message_id)

    def _payload(self, message: OutboundRequest) -> dict[str, Any] | SendResult:
        if message.mode is SendMode.REFUSED:
            return SendResult.outside_window(OUTSIDE_WINDOW_REASON)
        tagged = message.mode is SendMode.HUMAN_AGENT or (
            message.mode is SendMode.MESSAGE_TAG and message.tag == HUMAN_AGENT_TAG
        )
        if message.mode is not SendMode.FREE and not tagged:
            if message.mode is SendMode.MESSAGE_TAG:
                return SendResult.failed("Instagram accepts no message tag but HUMAN_AGENT")
            return SendResult.failed(f"Instagram cannot send a {message.mode.value} message")
        if not message.text.strip():
            return SendResult.failed("The message has no text")
        payload: dict[str, Any] = {
            "recipient": {"id": message.recipient},
            "message": {"text": message.text},
        }
        if tagged:
            payload.update(messaging_type="MESSAGE_TAG", tag=HUMAN_AGENT_TAG)
        return payload

    async def profile(self, igsid: str) -> tuple[str, str]:
        """The customer's (first, last) name, split from `name` (else the username)."""
        token = self.settings.instagram_token
        if token is None:
            return "", ""
        body = await graph_get(
            self.http,
            f"{self.settings.instagram_api_url}/{igsid}",
            token,
            {"fields": "name,username"},
            timeout_seconds=self.timeout,
        )
        if body is None:
            return "", ""
        name, username = body.get("name"), body.get("username")
        if isinstance(name, str) and name.strip():
            return split_name(name)
        if isinstance(username, str) and username.strip():
            return username.strip(), ""
        return "", ""

    def verify(self, request: WebhookRequest) -> bool:
        return verify_signature(request, self.settings.meta_app_secret)

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        return subscribe_handshake(request, self.settings.meta_verify_token)

    def parse(self, request: WebhookRequest) -> Sequence[WebhookEvent]:
        """Messages and reads (by mid or watermark) of `{"object": "instagram"}` webhooks."""
        return parse_messaging_webhook(request.body, self.channel, "instagram")

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        return ok_reply()


def _message_id(body: Any) -> str | None:
    """`{"recipient_id": ..., "message_id": "..."}` → the message id."""
    if isinstance(body, dict):
        mid = body.get("message_id")
        if isinstance(mid, str) and mid:
            return mid
    return None
