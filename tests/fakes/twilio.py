"""A local stand-in for Twilio's Messages API (`POST …/Messages.json`).

Checks a request as Twilio does (path, basic auth, `To`/`From`/`Body`) and
answers with Twilio's documented shapes; records every request; can be told
to answer the next requests with an error or slowly.
https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

E164 = re.compile(r"\+[1-9]\d{6,14}")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    form: dict[str, str]


@dataclass
class _Failure:
    status: int
    body: Any
    headers: dict[str, str]
    delay: float


def twilio_error(code: int, message: str, status: int) -> dict[str, Any]:
    """Twilio's error body: https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions"""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@dataclass
class FakeTwilio:
    account_sid: str = "AC00000000000000000000000000000001"
    auth_token: str = "twilio-auth-token"
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return str(self._server.make_url("")).rstrip("/")

    async def start(self) -> FakeTwilio:
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
        code: int | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next request with `status` (and Twilio error `code`), after `delay` s."""
        if body is None and code is not None:
            body = twilio_error(code, "Simulated error", status)
        self._failures.append(_Failure(status, body, dict(headers or {}), delay))

    def slow_next(self, delay: float) -> None:
        """Answer the next request successfully, but only after `delay` seconds."""
        self._failures.append(_Failure(0, None, {}, delay))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        self.requests.append(
            RecordedRequest(request.method, request.path, dict(request.headers), form)
        )
        if self._failures:
            failure = self._failures.pop(0)
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.status:
                return _answer(failure.status, failure.body, failure.headers)
        expected = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if request.path != expected:
            return _answer(404, twilio_error(20404, "The requested resource was not found", 404))
        if request.method != "POST":
            return _answer(405, twilio_error(20004, "Method not allowed", 405))
        if request.headers.get("Authorization") != self._basic_auth():
            return _answer(401, twilio_error(20003, "Authenticate", 401))
        if not form.get("To"):
            return _answer(400, twilio_error(21604, "A 'To' phone number is required.", 400))
        if not form.get("From"):
            return _answer(400, twilio_error(21603, "A 'From' phone number is required.", 400))
        if not form.get("Body") and not form.get("MediaUrl"):
            return _answer(400, twilio_error(21602, "Message body is required.", 400))
        if not E164.fullmatch(form["To"]):
            return _answer(
                400, twilio_error(21211, f"The 'To' number {form['To']} is not valid.", 400)
            )
        return _answer(201, self._message(form))

    def _basic_auth(self) -> str:
        token = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return f"Basic {token}"

    def _message(self, form: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + uuid.uuid4().hex
        now = format_datetime(datetime.now(UTC), usegmt=True)
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form["From"],
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": form["To"],
            "uri": f"{base}.json",
        }


def _answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    text = body if isinstance(body, str) else json.dumps(body)
    return web.Response(
        status=status, text=text, content_type="application/json", headers=dict(headers or {})
    )
