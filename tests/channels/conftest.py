"""What the channel connector tests share.

Fixtures: an HTTP session (`http`) and the local Graph API (`graph`).
Helpers: settings without a .env file, outbound messages, and webhook
requests signed as each vendor signs them (computed here, independently of
the connectors' own code).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.channels.base import OutboundRequest, WebhookRequest
from bot.channels.media import MediaFiles
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.messages import Content, TemplateUse
from bot.domain.windows import Reason, SendMode
from bot.media.store import FileMediaStore
from bot.slack.render import reason_text
from tests.fakes.graph import FakeGraph

#: Nothing listens there: a connection to it is refused at once.
UNREACHABLE = "http://127.0.0.1:9"
TEXT = "Your fix has shipped"
#: When the customers' webhooks say they wrote: 2026-11-18T12:00:00Z.
AT = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
STAMP = 1795003200  # AT in seconds since the epoch
STAMP_MS = STAMP * 1000

#: A webhook's `signature` argument: sign the body as the channel does.
SIGN = "sign"

# Meta's apps (WhatsApp, Messenger, Instagram) share the app secret and verify token.
APP_SECRET = "meta-app-secret"
VERIFY_TOKEN = "meta-verify-token"
META_SETTINGS = {"meta_app_secret": APP_SECRET, "meta_verify_token": VERIFY_TOKEN}
GRAPH_UNREACHABLE = f"{UNREACHABLE}/v21.0"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def media(tmp_path: Path) -> MediaFiles:
    """The connectors' way to a message's files: a fresh directory store, signed
    links under a public base URL, a fixed clock (tests/channels/media_files.py)."""
    from tests.channels.media_files import LINKS, NOW

    return MediaFiles(FileMediaStore(tmp_path / "media"), LINKS, lambda: NOW)


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with FakeGraph() as fake:
        yield fake


def settings(defaults: Mapping[str, Any] | None = None, /, **overrides: Any) -> Settings:
    """Settings from `defaults` with `overrides` on top, and nothing from a .env file."""
    return Settings(_env_file=None, **{**(defaults or {}), **overrides})


def content_of(fields: dict[str, Any]) -> Content:
    """The message content named by `fields` (taken out of them): `text`, `tag`,
    and `template` with its `template_language`, `template_params` and
    `template_param_names`."""
    template = fields.pop("template", None)
    use = None
    if template is not None:
        use = TemplateUse(
            template,
            fields.pop("template_language", ""),
            fields.pop("template_params", ()),
            fields.pop("template_param_names", ()),
        )
    return Content(fields.pop("text", TEXT), use, fields.pop("tag", None))


def outbound_message(channel: Channel, recipient: str, **fields: Any) -> OutboundRequest:
    """Our message "m-1" of TEXT, to be sent freely (inside the window), unless `fields` say."""
    content = content_of(fields)
    values: dict[str, Any] = {"message_id": "m-1", "mode": SendMode.FREE, **fields}
    return OutboundRequest(channel=channel, recipient=recipient, content=content, **values)


# --- webhooks ------------------------------------------------------------------------


def webhook_url(channel: str) -> str:
    return f"https://bot.example.com/webhooks/{channel}"


def as_body(body: Any) -> bytes:
    """Bytes as they are; anything else as JSON."""
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def signed_post(
    url: str,
    body: Any,
    header: str,
    sign: Callable[[bytes], str],
    signature: str | None = SIGN,
    headers: Mapping[str, str] | None = None,
) -> WebhookRequest:
    """A POST of `body` with `header` set to `sign(body)` (SIGN), to `signature`, or absent."""
    raw = as_body(body)
    sent = dict(headers or {})
    if signature is not None:
        sent[header] = sign(raw) if signature == SIGN else signature
    return WebhookRequest(method="POST", url=url, headers=sent, query={}, body=raw)


def hmac_sha256(secret: str, raw: bytes) -> bytes:
    return hmac.new(secret.encode(), raw, hashlib.sha256).digest()


def hex_hmac_sha256(secret: str, raw: bytes) -> str:
    return hmac_sha256(secret, raw).hex()


def base64_hmac_sha256(secret: str, raw: bytes) -> str:
    return base64.b64encode(hmac_sha256(secret, raw)).decode()


def sha256_signature(secret: str, raw: bytes) -> str:
    """`sha256=<hex HMAC-SHA256>`: Meta's `X-Hub-Signature-256`, our web chat's and e-mail's."""
    return "sha256=" + hex_hmac_sha256(secret, raw)


# --- Meta ----------------------------------------------------------------------------


def meta_sign(raw: bytes, secret: str = APP_SECRET) -> str:
    return sha256_signature(secret, raw)


def meta_webhook(channel: str, body: Any, signature: str | None = SIGN) -> WebhookRequest:
    """A webhook signed with the app secret, as Meta signs it."""
    return signed_post(webhook_url(channel), body, "X-Hub-Signature-256", meta_sign, signature)


def messaging_webhook(kind: str, account: str, sender: str, **event: Any) -> dict[str, Any]:
    """A Messenger Platform webhook (`page` or `instagram`) with one messaging event."""
    return {
        "object": kind,
        "entry": [
            {
                "id": account,
                "time": STAMP_MS + 500,
                "messaging": [
                    {
                        "sender": {"id": sender},
                        "recipient": {"id": account},
                        "timestamp": STAMP_MS,
                        **event,
                    }
                ],
            }
        ],
    }


def in_words(reason: Reason | None, lang: str = "en") -> str:
    """A connector's reason (a catalogue key and parameters) as an agent reads it."""
    return reason_text(reason, lang) if reason is not None else ""
