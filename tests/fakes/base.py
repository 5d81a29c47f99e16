"""What the local HTTP API stand-ins share: the server, the record, the script.

A `FakeServer` listens on 127.0.0.1 (a free port), records every request it
receives, and answers the next requests as scripted (`answer_next`,
`slow_next`) before answering as its API does (`answer`, in each fake's own
file, with that API's documented shapes).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, body as sent (header names in any case)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body as JSON; None when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    @property
    def form(self) -> dict[str, str]:
        """The body as an `application/x-www-form-urlencoded` form."""
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def form_items(self) -> list[tuple[str, str]]:
        """The form's fields in order, a repeated one (Twilio's `MediaUrl`) each time."""
        return parse_qsl(self.body.decode(), keep_blank_values=True)


@dataclass(frozen=True)
class ScriptedAnswer:
    status: int  # 0: answer as the API does, only later
    body: Any
    headers: Mapping[str, str]
    delay: float  # seconds before answering


def json_answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    """`body` as JSON (a string as it is), with `status` and `headers`."""
    text = body if isinstance(body, str) else json.dumps(body)
    return web.Response(
        status=status, text=text, content_type="application/json", headers=dict(headers or {})
    )


@dataclass(kw_only=True)
class FakeServer:
    """An API stand-in: `async with Fake() as fake`, or `await fake.start()` … `close()`.

    A subclass answers in `answer`; `script_key` may split the script by
    endpoint (None: no scripted answer applies to this request).
    """

    requests: list[RecordedRequest] = field(default_factory=list)
    #: Every answer waits a random time in this range (seconds): a slow API.
    latency: tuple[float, float] = (0.0, 0.0)
    #: How many requests have been answered (their answer handed back).
    answered: int = 0
    #: Called with `answered` after each answer (a benchmark kills a process on it).
    on_answered: Callable[[int], None] | None = None
    #: What `read_streamed` read, by recorded request, while it is answered.
    _streamed: dict[int, object] = field(default_factory=dict)
    _script: dict[str, list[ScriptedAnswer]] = field(default_factory=dict)
    _server: TestServer | None = None

    # --- lifecycle ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The server's root, without a trailing slash."""
        assert self._server is not None, "start() first"
        return str(self._server.make_url("")).rstrip("/")

    @property
    def url(self) -> str:
        """What the connector's settings hold (the root, unless the API says otherwise)."""
        return self.base_url

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1", port=0)
        await self._server.start_server()
        return self

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- scripting --------------------------------------------------------------

    def answer_next(
        self,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        *,
        key: str = "",
    ) -> None:
        """Answer the next request (of `key`) with `status`, `body`, `headers` after `delay` s."""
        answer = ScriptedAnswer(status, body, dict(headers or {}), delay)
        self._script.setdefault(key, []).append(answer)

    def slow_next(self, delay: float) -> None:
        """Answer the next request as the API does, but only after `delay` seconds."""
        self.answer_next(0, delay=delay)

    def script_key(self, request: RecordedRequest) -> str | None:
        """Which script answers `request` first ("" the one script; None none)."""
        return ""

    # --- answering ----------------------------------------------------------------

    async def answer(self, request: RecordedRequest) -> web.StreamResponse:
        raise NotImplementedError

    async def read_streamed(self, request: web.Request) -> object | None:
        """What a request whose body is read as a stream (an upload's file, never
        held) carried, for `answer` to find with `streamed_of`; None: the body is
        read whole and recorded (the default)."""
        return None

    def streamed_of(self, request: RecordedRequest) -> object | None:
        """What `read_streamed` read of `request`, while it is being answered."""
        return self._streamed.get(id(request))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        streamed = await self.read_streamed(request)
        recorded = RecordedRequest(
            request.method,
            request.path,
            dict(request.query),
            CIMultiDict(request.headers),
            b"" if streamed is not None else await request.read(),
        )
        if streamed is not None:
            self._streamed[id(recorded)] = streamed
        self.requests.append(recorded)
        try:
            return await self._answer_recorded(recorded)
        finally:
            self._streamed.pop(id(recorded), None)
            self.answered += 1
            if self.on_answered is not None:
                self.on_answered(self.answered)

    async def _answer_recorded(self, recorded: RecordedRequest) -> web.StreamResponse:
        if self.latency[1] > 0:
            await asyncio.sleep(random.uniform(*self.latency))
        key = self.script_key(recorded)
        script = self._script.get(key) if key is not None else None
        if script:
            scripted = script.pop(0)
            if scripted.delay:
                await asyncio.sleep(scripted.delay)
            if scripted.status:
                return json_answer(scripted.status, scripted.body, scripted.headers)
        return await self.answer(recorded)
