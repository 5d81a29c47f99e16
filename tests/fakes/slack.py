"""A local Slack Web API: chat.postMessage, chat.update, chat.getPermalink.

Answers like Slack (https://api.slack.com/methods/chat.postMessage,
https://api.slack.com/docs/rate-limits): `{"ok": true, ...}` JSON, bearer
token required (`not_authed` / `invalid_auth`), and, when told, HTTP 429 with
`Retry-After` and `{"ok": false, "error": "ratelimited"}` until a deadline.
Records every call for assertions.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class SlackCall:
    method: str
    args: dict[str, Any]


@dataclass
class FakeSlack:
    token: str = "xoxb-test-token"
    calls: list[SlackCall] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    ratelimited_until: float = 0.0
    retry_after: int = 1
    down_until: float = 0.0
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/api/"))

    def rate_limit_for(self, seconds: float, retry_after: int = 1) -> None:
        self.ratelimited_until = time.monotonic() + seconds
        self.retry_after = retry_after

    def outage_for(self, seconds: float) -> None:
        self.down_until = time.monotonic() + seconds

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if time.monotonic() < self.down_until:
            return web.Response(status=503, text="upstream unavailable")
        auth = request.headers.get("Authorization", "")
        if time.monotonic() < self.ratelimited_until:
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(self.retry_after)},
            )
        if request.content_type == "application/json":
            args = await request.json()
        else:
            args = dict(await request.post())
            for name in ("blocks", "attachments"):
                if isinstance(args.get(name), str):
                    args[name] = json.loads(args[name])
        if not auth.startswith("Bearer "):
            return web.json_response({"ok": False, "error": "not_authed"})
        if auth != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        self.calls.append(SlackCall(method, args))
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        reply: dict[str, Any] = handler(args)
        return web.json_response(reply)

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = f"{1795000000 + next(self._ts)}.000100"
        message = {"ts": ts, "text": args.get("text", ""), "blocks": args.get("blocks", [])}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (args.get("channel", ""), args.get("ts", ""))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        self.messages[key].update(text=args.get("text", ""), blocks=args.get("blocks", []))
        return {"ok": True, "channel": key[0], "ts": key[1], "text": args.get("text", "")}

    def _chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel", ""), args.get("message_ts", "")
        if (channel, ts) not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        link = f"https://example.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}
