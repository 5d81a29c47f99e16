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

from typing import Any

from pydantic import SecretStr

from bot.channels.base import OutboundRequest, SendResult
from bot.channels.meta import (
    ErrorTable,
    SendApiConnector,
    graph_get,
    messaging_errors,
    split_name,
)
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.windows import HUMAN_AGENT_TAG, SendMode

#: Meta allows 300 Send API calls/s per Instagram professional account for text:
#: https://developers.facebook.com/docs/messenger-platform/overview/rate-limiting
#: We stay well under it, as for Messenger.
INSTAGRAM_MESSAGES_PER_SECOND = 40

INSTAGRAM_ERRORS = messaging_errors("INSTAGRAM_TOKEN")

OUTSIDE_WINDOW_REASON = "send.instagram.outside_window"


class InstagramConnector(SendApiConnector):
    """Instagram Direct messages.

    `rate_limiter` defaults to 40 sends/s; `timeout` is the total seconds for one call.
    """

    channel = Channel.INSTAGRAM
    label = "Instagram"
    webhook_object = "instagram"
    messages_per_second = INSTAGRAM_MESSAGES_PER_SECOND

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.instagram_token is not None

    def errors(self) -> ErrorTable:
        return INSTAGRAM_ERRORS

    def token(self) -> SecretStr | None:
        return self.settings.instagram_token

    def api_url(self) -> str:
        return self.settings.instagram_api_url

    def payload(self, message: OutboundRequest) -> dict[str, Any] | SendResult:
        if message.mode is SendMode.REFUSED:
            return SendResult.outside_window(OUTSIDE_WINDOW_REASON)
        tagged = message.mode is SendMode.HUMAN_AGENT or (
            message.mode is SendMode.MESSAGE_TAG and message.content.tag == HUMAN_AGENT_TAG
        )
        if message.mode is not SendMode.FREE and not tagged:
            if message.mode is SendMode.MESSAGE_TAG:
                return SendResult.failed("send.instagram.tag")
            return SendResult.failed(
                "send.mode_unsupported", channel=Channel.INSTAGRAM.value, mode=message.mode.value
            )
        if not message.content.text.strip():
            return SendResult.failed("send.no_text")
        payload: dict[str, Any] = {
            "recipient": {"id": message.recipient},
            "message": {"text": message.content.text},
        }
        if tagged:
            payload.update(messaging_type="MESSAGE_TAG", tag=HUMAN_AGENT_TAG)
        return payload

    async def profile(self, igsid: str) -> tuple[str, str, str]:
        """The customer's (first, last) name, split from `name` (else the username),
        and their username ("" when the profile gives none), stored as a handle."""
        token = self.settings.instagram_token
        if token is None:
            return "", "", ""
        body = await graph_get(
            self.http,
            f"{self.settings.instagram_api_url}/{igsid}",
            token,
            {"fields": "name,username"},
            timeout_seconds=self.timeout,
        )
        if body is None:
            return "", "", ""
        name, username = body.get("name"), body.get("username")
        handle = username.strip() if isinstance(username, str) else ""
        if isinstance(name, str) and name.strip():
            return (*split_name(name), handle)
        if handle:
            return handle, "", handle
        return "", "", ""
