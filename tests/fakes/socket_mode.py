"""A local Socket Mode endpoint: the WebSocket Slack hands an app from `apps.connections.open`.

Speaks the protocol of https://api.slack.com/apis/socket-mode:

* on connect, a `hello` message (`num_connections`, `connection_info.app_id`,
  `debug_info`);
* requests as envelopes `{"envelope_id", "type", "payload",
  "accepts_response_payload"}`, `type` one of `slash_commands`, `interactive`,
  `events_api` (events also carry `retry_attempt` and `retry_reason`);
* the app acknowledges each with `{"envelope_id"}`, plus `"payload"` where the
  envelope accepts one (a command's ephemeral answer, a view submission's
  `response_action`);
* `disconnect` messages (`reason`: `warning`, `refresh_requested`,
  `link_disabled`) after which the app asks for a new URL and reconnects.

A malformed acknowledgement (not JSON, an unknown envelope, a payload where
none is accepted) is kept in `violations` for the test to fail on.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

ENVELOPE_TYPES = ("slash_commands", "interactive", "events_api")


@dataclass
class Ack:
    """What the app sent back for one envelope, and how long it took."""

    envelope_id: str
    payload: dict[str, Any] | None
    seconds: float


@dataclass
class _Pending:
    sent_at: float
    accepts_payload: bool
    answered: asyncio.Future[Ack]


@dataclass
class FakeSocketMode:
    app_id: str = "A0APP"
    #: connections accepted so far (a reconnect adds one)
    connections: int = 0
    acks: list[Ack] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _connected: asyncio.Condition | None = None
    _tickets: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: TestServer | None = None

    async def start(self) -> FakeSocketMode:
        self._connected = asyncio.Condition()
        app = web.Application()
        app.router.add_get("/link/", self._link)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self

    async def close(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        if self._server is not None:
            await self._server.close()

    def url(self) -> str:
        """A fresh WebSocket URL, as `apps.connections.open` answers (a new ticket each)."""
        assert self._server is not None, "start() first"
        base = str(self._server.make_url("/link/")).replace("http://", "ws://", 1)
        return f"{base}?ticket={next(self._tickets)}-{uuid.uuid4().hex[:8]}&app_id={self.app_id}"

    @property
    def open_sockets(self) -> int:
        return sum(not s.closed for s in self._sockets)

    async def wait_connected(self, count: int = 1, within: float = 5.0) -> None:
        """Until `count` connections were accepted in all (and one is open)."""
        assert self._connected is not None
        async with asyncio.timeout(within), self._connected:
            await self._connected.wait_for(
                lambda: self.connections >= count and self.open_sockets > 0
            )

    # --- Slack's side of the conversation ------------------------------------------

    async def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
    ) -> asyncio.Future[Ack]:
        """Send one envelope on the newest open socket; the future resolves on its ack."""
        if kind not in ENVELOPE_TYPES:
            raise ValueError(f"not a Socket Mode envelope type: {kind}")
        if accepts_response_payload is None:
            # Slack accepts a payload in the ack of commands and interactions, not events.
            accepts_response_payload = kind != "events_api"
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = "timeout" if retry_attempt else ""
        socket = self._newest()
        answered: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = _Pending(time.monotonic(), accepts_response_payload, answered)
        await socket.send_str(json.dumps(envelope))
        return answered

    async def request(self, kind: str, payload: dict[str, Any], within: float = 3.0) -> Ack:
        """Send an envelope and wait for its ack (Slack gives an app 3 seconds)."""
        answered = await self.send(kind, payload)
        async with asyncio.timeout(within):
            return await answered

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Tell the app this connection is going away (it should open a new one)."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-applink"}}
        await self._newest().send_str(json.dumps(message))

    def _newest(self) -> web.WebSocketResponse:
        for socket in reversed(self._sockets):
            if not socket.closed:
                return socket
        raise RuntimeError("the app is not connected")

    # --- the WebSocket endpoint ------------------------------------------------------

    async def _link(self, request: web.Request) -> web.StreamResponse:
        if not request.query.get("ticket"):
            return web.Response(status=401, text="invalid ticket")
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._sockets.append(socket)
        assert self._connected is not None
        async with self._connected:
            self.connections += 1
            self._connected.notify_all()
        hello = {
            "type": "hello",
            "num_connections": self.open_sockets,
            "debug_info": {
                "host": "fake-applink",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        await socket.send_str(json.dumps(hello))
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                self._acknowledged(message.data)
            elif message.type == WSMsgType.ERROR:
                break
        async with self._connected:
            self._connected.notify_all()
        return socket

    def _acknowledged(self, data: str) -> None:
        try:
            ack = json.loads(data)
        except ValueError:
            self.violations.append(f"an ack that is not JSON: {data[:100]!r}")
            return
        envelope_id = ack.get("envelope_id") if isinstance(ack, dict) else None
        pending = self._pending.pop(str(envelope_id), None)
        if pending is None:
            self.violations.append(f"an ack for an unknown envelope: {envelope_id!r}")
            return
        payload = ack.get("payload")
        if payload is not None and not pending.accepts_payload:
            self.violations.append(f"a payload in the ack of {envelope_id}, which accepts none")
        if payload is not None and not isinstance(payload, dict):
            self.violations.append(f"an ack payload that is not an object: {payload!r}")
            payload = None
        answer = Ack(str(envelope_id), payload, time.monotonic() - pending.sent_at)
        self.acks.append(answer)
        if not pending.answered.done():
            pending.answered.set_result(answer)
