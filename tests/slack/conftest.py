"""The Slack surface under test: `serve`'s web app, driven with signed requests.

`surface` builds the real web app (`bot.app.build_web_app`: Bolt, the
services, a real Redis under a private prefix) against a local fake Slack Web
API (`tests.fakes.slack`), and signs every request as Slack does
(https://api.slack.com/authentication/verifying-requests-from-slack: `v0=` +
HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret).

Listeners ack and work after; `settle()` waits for that work. Every message and
view the app sent is checked against Block Kit's limits by the fake, and a
test fails at teardown if any was refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import SLACK_KEY, SlackParts, build_web_app
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.models import ConversationStatus
from bot.runtime import CLOCK_KEY, REDIS_KEY
from bot.store.connection import create_redis
from bot.store.contacts import ContactDraft
from bot.store.keys import Keys
from bot.store.layout import ensure_layout
from tests.fakes.slack import FakeSlack

SIGNING_SECRET = "slack-signing-secret"
SUPPORT_CHANNEL = "C0SUPPORT"
AGENT = "U0AGENT1"
OTHER_AGENT = "U0AGENT2"
TEAM = "T0TEAM"
NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)

Client = TestClient[web.Request, web.Application]


def sign(body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request headers for `body`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Surface:
    """The running app, its fake Slack, and ways to act like Slack."""

    client: Client
    slack: FakeSlack
    app: web.Application
    settings: Settings
    now: datetime
    trigger_ids: list[str] = field(default_factory=list)

    @property
    def deps(self) -> SlackParts:
        return self.app[SLACK_KEY]

    async def settle(self) -> None:
        """Let the work after the acks finish (and what it started)."""
        for _ in range(20):
            await self.deps.background.drain(grace=10)
            if not self.deps.background.pending:
                return

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
    ) -> web.Response:
        headers = {"Content-Type": content_type, **sign(body, secret, timestamp)}
        return await self.client.post("/slack/events", data=body.encode(), headers=headers)  # type: ignore[return-value]

    async def command(
        self, name: str, text: str = "", *, user: str = AGENT, channel: str = "C0GENERAL"
    ) -> tuple[int, dict[str, Any], str]:
        """A slash command; returns (HTTP status, the ack's JSON or {}, its response_url)."""
        trigger = f"{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:8]}"
        self.trigger_ids.append(trigger)
        url = self.slack.response_url()
        form = {
            "token": "deprecated",
            "team_id": TEAM,
            "team_domain": "example",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": name,
            "text": text,
            "api_app_id": "A0APP",
            "response_url": url,
            "trigger_id": trigger,
        }
        response = await self.post(urlencode(form), "application/x-www-form-urlencoded")
        return response.status, await _json_or_empty(response), url

    async def interact(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """An interactivity payload (block_actions, view_submission, shortcuts)."""
        payload.setdefault("team", {"id": TEAM, "domain": "example"})
        payload.setdefault("api_app_id", "A0APP")
        payload.setdefault("token", "deprecated")
        payload.setdefault("trigger_id", f"{uuid.uuid4().int % 10**12}.trig")
        body = urlencode({"payload": json.dumps(payload)})
        response = await self.post(body, "application/x-www-form-urlencoded")
        return response.status, await _json_or_empty(response)

    async def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str = AGENT,
        block_id: str = "b",
        container: dict[str, Any] | None = None,
        view: dict[str, Any] | None = None,
        message: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any], str]:
        """A button click; returns (status, ack JSON, the click's response_url)."""
        url = self.slack.response_url()
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "container": container or {"type": "message", "is_ephemeral": True},
            "channel": {"id": "C0GENERAL", "name": "general"},
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": block_id,
                    "value": value,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        if view is not None:
            payload["view"] = view
            payload["container"] = {"type": "view", "view_id": view.get("id")}
        else:
            payload["response_url"] = url
        if message is not None:
            payload["message"] = message
        status, ack = await self.interact(payload)
        return status, ack, url

    async def submit(
        self, view: dict[str, Any], values: dict[str, Any], *, user: str = AGENT
    ) -> tuple[int, dict[str, Any]]:
        """Submit a modal the app opened, with `values` as Slack's view.state.values."""
        submitted = dict(view, state={"values": values})
        return await self.interact(
            {
                "type": "view_submission",
                "user": {"id": user, "username": user.lower(), "team_id": TEAM},
                "view": submitted,
            }
        )

    async def event(self, event: dict[str, Any]) -> int:
        body = json.dumps(
            {
                "token": "deprecated",
                "team_id": TEAM,
                "api_app_id": "A0APP",
                "type": "event_callback",
                "event_id": f"Ev{uuid.uuid4().hex[:10]}",
                "event_time": int(time.time()),
                "event": event,
            }
        )
        response = await self.post(body, "application/json")
        return response.status

    def last_view(self) -> dict[str, Any]:
        """The latest modal the app opened or updated."""
        calls = [c for c in self.slack.calls if c.method in ("views.open", "views.push")]
        assert calls, "no modal was opened"
        view_id = max(self.slack.views)
        return self.slack.views[view_id]

    async def contact(
        self,
        first: str,
        last: str = "",
        *,
        phone: str | None = None,
        email: str | None = None,
        identities: dict[Channel, str] | None = None,
        assignee: str | None = None,
        status: str = "closed",
        last_inbound: dict[Channel, datetime] | None = None,
    ) -> str:
        """A contact in the store, as the importer would write it; returns its id."""
        draft = ContactDraft(
            first_name=first,
            last_name=last,
            phone=phone,
            email=email,
            identities=identities or {},
            assignee=assignee,
            status=ConversationStatus(status),
            last_inbound_at=last_inbound or {},
        )
        result = await self.deps.contacts.create(draft, self.now)
        return result.contact_id


async def _json_or_empty(response: Any) -> dict[str, Any]:
    text = await response.text()
    if not text:
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        return {"text": text}
    return body if isinstance(body, dict) else {}


def surface_settings(slack: FakeSlack, keys: Keys, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": slack.token,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.url,
        "support_channel": SUPPORT_CHANNEL,
        "partitions": keys.partitions,
        "redis_key_prefix": keys.prefix,
        "default_phone_region": "AE",
        "relay_in_process": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest_asyncio.fixture(loop_scope="session")
async def slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    try:
        yield fake
        assert not fake.violations, fake.violations
    finally:
        await fake.close()


@asynccontextmanager
async def running_surface(
    redis_url: str, slack: FakeSlack, now: datetime = NOW, **overrides: Any
) -> AsyncIterator[Surface]:
    """The web app of `serve` with the Slack surface on, under a private key prefix."""
    keys = Keys(partitions=4, prefix=f"t{uuid.uuid4().hex[:10]}")
    settings = surface_settings(slack, keys, **overrides)
    app = build_web_app(settings, create_redis(redis_url))
    app[CLOCK_KEY] = lambda: now
    async with TestClient(TestServer(app)) as client:
        await ensure_layout(app[REDIS_KEY], keys)  # as `serve` does before serving
        surface = Surface(client=client, slack=slack, app=app, settings=settings, now=now)
        try:
            yield surface
        finally:
            await surface.settle()


@pytest_asyncio.fixture(loop_scope="session")
async def surface(redis_url: str, slack: FakeSlack) -> AsyncIterator[Surface]:
    async with running_surface(redis_url, slack) as running:
        yield running


def texts(blocks: list[dict[str, Any]]) -> str:
    """Every visible text of some blocks, joined (for assertions)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text"):
                out.append(str(node.get("text", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return "\n".join(out)


def buttons(blocks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "button":
                found.append((node["action_id"], node.get("value", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found
