"""A local Meta Graph API serving the WhatsApp Cloud API, Messenger and Instagram.

Answers like Graph (https://developers.facebook.com/docs/graph-api/guides/error-handling):

* `POST /v21.0/{phone-number-id}/messages` (WhatsApp Cloud API) →
  `{"messaging_product": "whatsapp", "contacts": [...], "messages": [{"id": "wamid..."}]}`
* `POST /v21.0/me/messages` (Messenger with the Page token, Instagram with its
  token) → `{"recipient_id": ..., "message_id": "m_..."}`
* `GET /v21.0/{user-id}?fields=...` → the profile's requested fields
* `POST /v21.0/{phone-number-id}/media` (WhatsApp media upload, multipart
  `file`, `type`, `messaging_product`) → `{"id": ...}`; the file is read as a
  stream and kept in `media`, and an image / video / audio / document /
  sticker message must name one of those ids (`caption` only where the type
  takes one, `filename` only for a document):
  https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media
* Send API attachments (`message.attachment = {type, payload: {url,
  is_reusable}}`): the type one of image, video, audio, file, the url http(s)

A missing or wrong token gets 401 with OAuthException code 190; a missing
required field gets 400 with code 100; an unknown object gets 400 code 100
subcode 33. A template message naming a template registered in `templates`
is checked against it as Meta does: not approved in that language → 132001,
its `components` not matching the template's header, body placeholders and
buttons → 132000 (the shapes of
https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates).
A template the fake does not hold is accepted unchecked. The token may come
as `Authorization: Bearer` or `access_token`.
Every request is recorded; `fail_next(...)`, `error_next(...)` and
`slow_next(...)` script the next answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fakes.multipart import Upload, read_upload

API_VERSION = "v21.0"
_MEDIA_TYPES = {"image", "video", "audio", "document", "sticker"}
_MEDIA_TYPES_WITH_CAPTION = {"image", "video", "document"}
_ATTACHMENT_TYPES = {"image", "video", "audio", "file"}


def _attachment_ok(attachment: Any) -> bool:
    """`{type: image|video|audio|file, payload: {url, is_reusable}}`:
    https://developers.facebook.com/docs/messenger-platform/reference/send-api"""
    if not isinstance(attachment, dict) or attachment.get("type") not in _ATTACHMENT_TYPES:
        return False
    payload = attachment.get("payload")
    if not isinstance(payload, dict):
        return False
    url = payload.get("url")
    reusable = payload.get("is_reusable", False)
    return (
        isinstance(url, str)
        and url.startswith(("https://", "http://"))
        and reusable
        in (
            True,
            False,
        )
    )


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
    #: WhatsApp media uploaded, by the id answered.
    media: dict[str, Upload] = field(default_factory=dict)
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
        app.router.add_post(f"/{API_VERSION}/{{node}}/media", self._media_upload)
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

    async def _media_upload(self, request: web.Request) -> web.Response:
        """https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#upload-media"""
        token = _token(request)
        upload = await read_upload(request)  # streamed: the body is not recorded
        self.requests.append(
            GraphRequest(
                request.method,
                request.path,
                dict(request.headers),
                dict(request.query),
                None,
                token,
                self._product(token),
            )
        )
        scripted = await self._scripted()
        if scripted is not None:
            return scripted
        if self._product(token) != "whatsapp":
            return _error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        if request.match_info["node"] != self.phone_number_id:
            return _error(400, 100, "Unsupported post request.", subcode=33)
        if not isinstance(upload, Upload) or upload.file_field != "file":
            return _error(400, 100, "(#100) The parameter file is required.")
        if upload.fields.get("messaging_product") != "whatsapp":
            return _error(400, 100, "(#100) The parameter messaging_product is required.")
        if upload.fields.get("type") != upload.content_type:
            return _error(400, 131053, "(#131053) Media upload error")
        media_id = f"{next(self._ids) + 900000000000000}"
        self.media[media_id] = upload
        return web.json_response({"id": media_id})

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
            refusal = self._template_refusal(template)
            if refusal is not None:
                return refusal
        elif kind in _MEDIA_TYPES:
            problem = self._media_problem(kind, body.get(kind))
            if problem is not None:
                return problem
        else:
            return _error(400, 131051, "(#131051) Unsupported message type")
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": f"wamid.HBgM{next(self._ids):06d}"}],
            }
        )

    def _media_problem(self, kind: str, media: Any) -> web.Response | None:
        """A media object Meta would refuse: no uploaded `id` (nor a `link`), a
        caption where the type takes none, a filename other than a document's.
        https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages#media-object"""
        if not isinstance(media, dict):
            return _error(400, 100, f"(#100) The parameter {kind} is required.")
        if "link" not in media and str(media.get("id")) not in self.media:
            return _error(400, 131053, "(#131053) Media upload error")
        if "caption" in media and kind not in _MEDIA_TYPES_WITH_CAPTION:
            return _error(400, 100, f"(#100) Param {kind}['caption'] is not allowed.")
        if "filename" in media and kind != "document":
            return _error(400, 100, f"(#100) Param {kind}['filename'] is not allowed.")
        return None

    def _template_refusal(self, sent: dict[str, Any]) -> web.Response | None:
        """Meta's answer to a template message that does not fit the template, or None."""
        held = [t for ts in self.templates.values() for t in ts if t.get("name") == sent["name"]]
        if not held:
            return None
        code = sent["language"]["code"]
        approved = next(
            (t for t in held if t.get("language") == code and t.get("status") == "APPROVED"),
            None,
        )
        if approved is None:
            return _error(404, 132001, "(#132001) Template name does not exist in the translation")
        problem = template_mismatch(approved, sent.get("components"))
        if problem is not None:
            return web.json_response(
                graph_error_body(
                    132000,
                    "(#132000) Number of parameters does not match the expected number of params",
                    details=problem,
                ),
                status=400,
            )
        return None

    def _send_api(self, body: dict[str, Any], product: str) -> web.Response:
        """https://developers.facebook.com/docs/messenger-platform/reference/send-api"""
        recipient = body.get("recipient")
        if not isinstance(recipient, dict) or not recipient.get("id"):
            return _error(400, 100, "(#100) The parameter recipient is required")
        message = body.get("message")
        if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
            return _error(400, 100, "(#100) The parameter message is required")
        attachment = message.get("attachment")
        if attachment is not None and not _attachment_ok(attachment):
            return _error(400, 100, "(#100) Invalid attachment")
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


_POSITIONAL = re.compile(r"\{\{(\d+)\}\}")
_NAMED = re.compile(r"\{\{([a-z_][a-z0-9_]*)\}\}")
_MEDIA = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document"}
_BUTTON_SUB_TYPES = {"URL": "url", "QUICK_REPLY": "quick_reply", "COPY_CODE": "copy_code"}


def _placeholders(text: str, named: bool) -> list[str]:
    if named:
        return list(dict.fromkeys(_NAMED.findall(text)))
    return [str(n) for n in range(1, max(map(int, _POSITIONAL.findall(text)), default=0) + 1)]


def _text_parameters(where: str, parameters: Any, expected: list[str], named: bool) -> str | None:
    """Each placeholder given once as `{"type": "text", "text": …}` (named: `parameter_name`)."""
    if not isinstance(parameters, list) or len(parameters) != len(expected):
        count = len(parameters) if isinstance(parameters, list) else 0
        return f"{where}: expected number of params ({len(expected)}) does not match {count}"
    for parameter in parameters:
        if not isinstance(parameter, dict) or parameter.get("type") != "text":
            return f"{where}: a text parameter is expected"
        if not isinstance(parameter.get("text"), str) or not parameter["text"]:
            return f"{where}: a parameter has no text"
    if named:
        given = sorted(str(p.get("parameter_name")) for p in parameters)
        if given != sorted(expected):
            return f"{where}: parameter names {given} are not {sorted(expected)}"
    return None


def template_mismatch(template: dict[str, Any], components: Any) -> str | None:
    """Why `components` (as sent) do not fit the approved `template`, or None when they do."""
    named = str(template.get("parameter_format") or "POSITIONAL").upper() == "NAMED"
    sent = components if isinstance(components, list) else []
    if not all(isinstance(c, dict) for c in sent):
        return "a component is not an object"
    by_type: dict[str, list[dict[str, Any]]] = {}
    for component in sent:
        by_type.setdefault(str(component.get("type")), []).append(component)
    unknown = set(by_type) - {"header", "body", "button"}
    if unknown:
        return f"unknown component types {sorted(unknown)}"
    parts = {str(c.get("type")).upper(): c for c in template.get("components") or []}
    # The header: a TEXT one's placeholder, or the media of its format.
    header = parts.get("HEADER")
    header_sent = by_type.get("header", [])
    if len(header_sent) > 1:
        return "more than one header component"
    header_parameters = header_sent[0].get("parameters") if header_sent else None
    media = _MEDIA.get(str((header or {}).get("format") or "").upper())
    if media is not None:
        if not isinstance(header_parameters, list) or len(header_parameters) != 1:
            return f"header: one {media} parameter is expected"
        parameter = header_parameters[0]
        source = parameter.get(media) if isinstance(parameter, dict) else None
        if parameter.get("type") != media or not isinstance(source, dict):
            return f"header: a {media} parameter is expected"
        if not (
            isinstance(source.get("id"), str) or str(source.get("link", "")).startswith("http")
        ):
            return f"header: the {media} needs a link or an id"
    else:
        expected = _placeholders(str((header or {}).get("text") or ""), named)
        if expected or header_sent:
            problem = _text_parameters("header", header_parameters, expected, named)
            if problem is not None:
                return problem
    # The body's placeholders.
    body_expected = _placeholders(str((parts.get("BODY") or {}).get("text") or ""), named)
    body_sent = by_type.get("body", [])
    if len(body_sent) > 1:
        return "more than one body component"
    if body_expected or body_sent:
        parameters = body_sent[0].get("parameters") if body_sent else None
        problem = _text_parameters("body", parameters, body_expected, named)
        if problem is not None:
            return problem
    # Buttons: each sent one names an index whose button takes that sub_type;
    # a dynamic URL and a copy code must be given.
    buttons = list((parts.get("BUTTONS") or {}).get("buttons") or [])
    seen: set[int] = set()
    for component in by_type.get("button", []):
        index = component.get("index")
        if not isinstance(index, str | int) or not str(index).isdigit():
            return "button: index is required"
        position = int(index)
        if position >= len(buttons) or position in seen:
            return f"button {position}: no such button, or given twice"
        seen.add(position)
        kind = str(buttons[position].get("type") or "").upper()
        if component.get("sub_type") != _BUTTON_SUB_TYPES.get(kind):
            return f"button {position}: sub_type {component.get('sub_type')} for a {kind} button"
        parameters = component.get("parameters")
        if not isinstance(parameters, list) or len(parameters) != 1:
            return f"button {position}: one parameter is expected"
        parameter = parameters[0] if isinstance(parameters[0], dict) else {}
        wanted = {"URL": ("text", "text"), "QUICK_REPLY": ("payload", "payload")}.get(
            kind, ("coupon_code", "coupon_code")
        )
        if parameter.get("type") != wanted[0] or not parameter.get(wanted[1]):
            return f"button {position}: a {wanted[0]} parameter is expected"
        if kind == "URL" and not _POSITIONAL.search(str(buttons[position].get("url") or "")):
            return f"button {position}: the URL has no variable"
    for position, button in enumerate(buttons):
        kind = str(button.get("type") or "").upper()
        needed = kind == "COPY_CODE" or (
            kind == "URL" and _POSITIONAL.search(str(button.get("url") or "")) is not None
        )
        if needed and position not in seen:
            return f"button {position}: its {kind} parameter is missing"
    return None


def _token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth.removeprefix("Bearer ").strip()
    return request.query.get("access_token")


def _error(status: int, code: int, message: str, subcode: int | None = None) -> web.Response:
    return web.json_response(graph_error_body(code, message, subcode=subcode), status=status)
