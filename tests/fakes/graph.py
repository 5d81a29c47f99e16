"""A local Meta Graph API serving the WhatsApp Cloud API, Messenger and Instagram.

Answers like Graph (https://developers.facebook.com/docs/graph-api/guides/error-handling):

* `POST /v21.0/{phone-number-id}/messages` (WhatsApp Cloud API) →
  `{"messaging_product": "whatsapp", "contacts": [...], "messages": [{"id": "wamid..."}]}`
* `POST /v21.0/me/messages` (Messenger with the Page token, Instagram with its
  token) → `{"recipient_id": ..., "message_id": "m_..."}`
* `GET /v21.0/{user-id}?fields=...` → the profile's requested fields

A missing or wrong token gets 401 with OAuthException code 190; a missing
required field gets 400 with code 100; an unknown object gets 400 code 100
subcode 33. The token may come as `Authorization: Bearer` or `access_token`.
Every request is recorded; `fail_next(...)`, `error_next(...)` and
`slow_next(...)` script the next answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

API_VERSION = "v21.0"


@dataclass(frozen=True)
class GraphRequest:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    json: Any
    token: str | None
    product: str | None  # "whatsapp", "messenger", "instagram" (by token), None when unknown


@dataclass
class ScriptedAnswer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (or the real answer, when status is 0)


def graph_error_body(
    code: int,
    message: str = "An error occurred",
    *,
    subcode: int | None = None,
    type_: str = "OAuthException",
    details: str | None = None,
    is_transient: bool | None = None,
) -> dict[str, Any]:
    """The Graph API error envelope."""
    error: dict[str, Any] = {
        "message": message,
        "type": type_,
        "code": code,
        "fbtrace_id": "AbCdEfGhIjK",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if is_transient is not None:
        error["is_transient"] = is_transient
    return {"error": error}


@dataclass
class FakeGraph:
    whatsapp_token: str = "wa-test-token"
    phone_number_id: str = "106540352242922"
    page_token: str = "page-test-token"
    instagram_token: str = "ig-test-token"
    profiles: dict[str, dict[str, str]] = field(default_factory=dict)
    #: message templates by business account id (GET /{waba-id}/message_templates)
    templates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    template_page_size: int = 2
    requests: list[GraphRequest] = field(default_factory=list)
    _script: list[ScriptedAnswer] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    server: TestServer | None = None

    # --- lifecycle ----------------------------------------------------------

    @property
    def url(self) -> str:
        """The API base, version included, without a trailing slash (as settings hold it)."""
        assert self.server is not None
        return str(self.server.make_url(f"/{API_VERSION}"))

    async def start(self) -> FakeGraph:
        app = web.Application()
        app.router.add_post(f"/{API_VERSION}/{{node}}/messages", self._messages)
        app.router.add_get(f"/{API_VERSION}/{{node}}", self._node)
        app.router.add_get(f"/{API_VERSION}/{{waba}}/message_templates", self._templates)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        self._release.set()  # let slow handlers finish so shutdown is quick
        if self.server is not None:
            await self.server.close()

    async def __aenter__(self) -> FakeGraph:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- scripting ------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        body: Any = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next request with `status`, `body` (JSON unless bytes/str), `headers`."""
        self._script.append(ScriptedAnswer(status, body, dict(headers or {}), delay))

    def error_next(
        self,
        code: int,
        *,
        subcode: int | None = None,
        status: int = 400,
        message: str = "An error occurred",
        headers: dict[str, str] | None = None,
        details: str | None = None,
        is_transient: bool | None = None,
    ) -> None:
        """Answer the next request with a Graph error envelope."""
        body = graph_error_body(
            code, message, subcode=subcode, details=details, is_transient=is_transient
        )
        self.fail_next(status=status, body=body, headers=headers)

    def slow_next(self, seconds: float) -> None:
        """Hold the next answer for `seconds` (then answer normally)."""
        self._script.append(ScriptedAnswer(status=0, delay=seconds))

    @property
    def sent(self) -> list[GraphRequest]:
        """The POSTed messages, in order."""
        return [r for r in self.requests if r.method == "POST"]

    # --- handlers ------------------------------------------------------------------

    def _product(self, token: str | None) -> str | None:
        return {
            self.whatsapp_token: "whatsapp",
            self.page_token: "messenger",
            self.instagram_token: "instagram",
        }.get(token or "")

    async def _record(self, request: web.Request) -> GraphRequest:
        raw = await request.read()
        try:
            payload = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            payload = raw.decode(errors="replace")
        token = _token(request)
        recorded = GraphRequest(
            method=request.method,
            path=request.path,
            headers=dict(request.headers),
            query=dict(request.query),
            json=payload,
            token=token,
            product=self._product(token),
        )
        self.requests.append(recorded)
        return recorded

    async def _scripted(self) -> web.Response | None:
        if not self._script:
            return None
        answer = self._script.pop(0)
        if answer.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), answer.delay)
        if answer.status == 0:
            return None
        if isinstance(answer.body, bytes | str):
            return web.Response(status=answer.status, body=answer.body, headers=answer.headers)
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)

    async def _messages(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        scripted = await self._scripted()
        if scripted is not None:
            return scripted
        node = request.match_info["node"]
        if recorded.product is None:
            return _error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        body = recorded.json if isinstance(recorded.json, dict) else None
        if body is None:
            return _error(400, 100, "(#100) The parameter messaging_product is required.")
        if node == "me":
            if recorded.product == "whatsapp":
                return _error(400, 100, "(#100) Unsupported post request.", subcode=33)
            return self._send_api(body, recorded.product)
        if recorded.product != "whatsapp":
            return _error(400, 100, "(#100) Unsupported post request.", subcode=33)
        if node != self.phone_number_id:
            return _error(
                400, 100, f"Unsupported post request. Object with ID '{node}' does not exist", 33
            )
        return self._cloud_api(body)

    def _cloud_api(self, body: dict[str, Any]) -> web.Response:
        """https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages"""
        if body.get("messaging_product") != "whatsapp":
            return _error(400, 100, "(#100) The parameter messaging_product is required.")
        to = body.get("to")
        if not isinstance(to, str) or not to:
            return _error(400, 100, "(#100) The parameter to is required.")
        kind = body.get("type", "text")
        if kind == "text":
            text = body.get("text")
            if not isinstance(text, dict) or not text.get("body"):
                return _error(400, 100, "(#100) The parameter text['body'] is required.")
        elif kind == "template":
            template = body.get("template")
            if not isinstance(template, dict) or not template.get("name"):
                return _error(400, 100, "(#100) The parameter template['name'] is required.")
            language = template.get("language")
            if not isinstance(language, dict) or not language.get("code"):
                return _error(400, 100, "(#100) The parameter template['language'] is required.")
        else:
            return _error(400, 131051, "(#131051) Unsupported message type")
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": f"wamid.HBgM{next(self._ids):06d}"}],
            }
        )

    def _send_api(self, body: dict[str, Any], product: str) -> web.Response:
        """https://developers.facebook.com/docs/messenger-platform/reference/send-api"""
        recipient = body.get("recipient")
        if not isinstance(recipient, dict) or not recipient.get("id"):
            return _error(400, 100, "(#100) The parameter recipient is required")
        message = body.get("message")
        if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
            return _error(400, 100, "(#100) The parameter message is required")
        messaging_type = body.get("messaging_type", "RESPONSE" if product == "instagram" else None)
        if messaging_type not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            return _error(400, 100, "(#100) The parameter messaging_type is required")
        if messaging_type == "MESSAGE_TAG" and not body.get("tag"):
            return _error(400, 100, "(#100) Tag is required for MESSAGE_TAG messaging type")
        prefix = "m_" if product == "messenger" else "aWdf"
        return web.json_response(
            {"recipient_id": recipient["id"], "message_id": f"{prefix}{next(self._ids):06d}"}
        )

    async def _templates(self, request: web.Request) -> web.Response:
        await self._record(request)
        scripted = await self._scripted()
        if scripted is not None:
            return scripted
        return await _templates_page(self, request)

    async def _node(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        scripted = await self._scripted()
        if scripted is not None:
            return scripted
        if recorded.product is None:
            return _error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        profile = self.profiles.get(request.match_info["node"])
        if profile is None:
            return _error(400, 100, "Unsupported get request.", subcode=33)
        fields = [f for f in request.query.get("fields", "").split(",") if f]
        answer = {"id": request.match_info["node"]}
        answer.update({f: profile[f] for f in fields if f in profile})
        return web.json_response(answer)


async def _templates_page(fake: FakeGraph, request: web.Request) -> web.Response:
    """Graph's template list: `data`, cursor paging with `paging.next` (absent on the last)."""
    if _token(request) != fake.whatsapp_token:
        return _error(401, 190, "Invalid OAuth access token - Cannot parse access token")
    waba = request.match_info["waba"]
    if waba not in fake.templates:
        return _error(400, 100, "Unsupported get request.", subcode=33)
    wanted = request.query.get("status")
    items = [t for t in fake.templates[waba] if not wanted or t.get("status") == wanted]
    start = int(request.query.get("after") or 0)
    limit = min(int(request.query.get("limit") or 25), fake.template_page_size)
    page = items[start : start + limit]
    paging: dict[str, Any] = {"cursors": {"before": str(start), "after": str(start + limit)}}
    if start + limit < len(items):
        query = dict(request.query, after=str(start + limit))
        paging["next"] = str(request.url.with_query(query))
    return web.json_response({"data": page, "paging": paging})


def _token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth.removeprefix("Bearer ").strip()
    return request.query.get("access_token")


def _error(status: int, code: int, message: str, subcode: int | None = None) -> web.Response:
    return web.json_response(graph_error_body(code, message, subcode=subcode), status=status)
