"""A local stand-in for our website chat widget backend (the outbound side).

Checks each POST as the backend does (path, `X-Webchat-Signature` over the
raw body, `Idempotency-Key`, the message JSON) and de-duplicates on the key:
a repeated key is answered like the first time and shown once. Records every
request; can be told to answer the next ones with an error or slowly.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Failure:
    status: int
    body: Any
    headers: dict[str, str]
    delay: float


@dataclass
class FakeWebchatBackend:
    secret: str = "webchat-secret"
    path: str = "/outbound"
    #: Answer with the backend's own message id (`{"message": {"id": …}}`), or 204.
    answer_ids: bool = True
    requests: list[RecordedRequest] = field(default_factory=list)
    #: What visitors saw: one entry per Idempotency-Key.
    shown: dict[str, dict[str, Any]] = field(default_factory=dict)
    _failures: list[_Failure] = field(default_factory=list)
    _server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return str(self._server.make_url(self.path))

    async def start(self) -> FakeWebchatBackend:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1", port=0)
        await self._server.start_server()
        return self

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    def fail_next(
        self,
        status: int = 500,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next request with `status` (after `delay` seconds)."""
        body = {"error": f"simulated {status}"} if body is None else body
        self._failures.append(_Failure(status, body, dict(headers or {}), delay))

    def slow_next(self, delay: float) -> None:
        """Answer the next request normally, but only after `delay` seconds."""
        self._failures.append(_Failure(0, None, {}, delay))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            RecordedRequest(request.method, request.path, dict(request.headers), body)
        )
        if self._failures:
            failure = self._failures.pop(0)
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.status:
                return web.json_response(
                    failure.body, status=failure.status, headers=failure.headers
                )
        if request.path != self.path:
            return web.json_response({"error": "not found"}, status=404)
        if request.method != "POST":
            return web.json_response({"error": "method not allowed"}, status=405)
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Webchat-Signature", ""), expected):
            return web.json_response({"error": "bad signature"}, status=401)
        key = request.headers.get("Idempotency-Key")
        if not key:
            return web.json_response({"error": "Idempotency-Key is required"}, status=400)
        try:
            payload = json.loads(body)
            message = payload["message"]
            valid = (
                payload["type"] == "message"
                and isinstance(payload["visitor"]["id"], str)
                and isinstance(message["id"], str)
                and isinstance(message["text"], str)
                and str(message["sent_at"]).endswith("Z")
            )
        except (ValueError, KeyError, TypeError):
            valid = False
        if not valid:
            return web.json_response({"error": "invalid message"}, status=400)
        self.shown.setdefault(key, payload)
        if not self.answer_ids:
            return web.Response(status=204)
        return web.json_response({"message": {"id": f"wc_{key}"}}, status=201)
