"""A local Slack Web API and `response_url` endpoint, for the app's tests.

Methods: chat.postMessage, chat.update, chat.getPermalink, chat.postEphemeral,
views.open / update / push / publish, users.info, usergroups.users.list,
conversations.open, apps.connections.open, and files: `url_private`
downloads (`add_file`) and the external upload pair
files.getUploadURLExternal → POST the bytes to `upload_url` →
files.completeUploadExternal
(https://api.slack.com/methods/files.getUploadURLExternal,
https://api.slack.com/methods/files.completeUploadExternal). Every message and view the app
sends is parsed with slack-sdk's Block Kit models and checked against Slack's
limits (`tests.fakes.blockkit`); a violation answers like Slack
(`invalid_blocks`) and is kept in `violations` for the test to fail on.

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

from tests.fakes.blockkit import check_payload


@dataclass
class SlackCall:
    method: str
    args: dict[str, Any]


@dataclass
class SlackFile:
    """A file in the fake workspace: one an agent shared, or one the app uploaded."""

    id: str
    name: str
    mimetype: str
    data: bytes = b""
    #: files.getUploadURLExternal's `length`; the upload must match it
    declared_length: int = 0
    uploaded: bool = False
    title: str = ""
    #: where files.completeUploadExternal shared it: (channel_id, thread_ts, initial_comment)
    shared: list[tuple[str, str, str]] = field(default_factory=list)


#: Bytes written per chunk when the fake serves a file.
FILE_CHUNK = 64 * 1024


@dataclass
class FakeSlack:
    token: str = "xoxb-test-token"
    app_token: str = "xapp-1-A111-test"
    calls: list[SlackCall] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    ratelimited_until: float = 0.0
    retry_after: int = 1
    down_until: float = 0.0
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    server: TestServer | None = None
    #: response_url posts: (path id, JSON body)
    responses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    home: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    #: what apps.connections.open answers (the Socket Mode test sets it)
    socket_url: str = ""
    #: trigger_ids that expired (views.open answers expired_trigger_id)
    expired_triggers: set[str] = field(default_factory=set)
    files: dict[str, SlackFile] = field(default_factory=dict)
    #: files.getUploadURLExternal / upload / complete keep a whole upload only when True
    keep_uploads: bool = True
    _file_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _view_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _response_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

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

    def response_url(self) -> str:
        """A fresh `response_url`, as Slack puts in each command and button payload."""
        return str(self.server_url(f"/response/{next(self._response_ids)}"))

    def server_url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    def answers_to(self, url: str) -> list[dict[str, Any]]:
        """What the app posted to one response_url."""
        rid = url.rsplit("/", 1)[-1]
        return [body for got, body in self.responses if got == rid]

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        app.router.add_get("/api/{method}", self._handle)
        app.router.add_post("/response/{rid}", self._response)
        app.router.add_get("/files-pri/{team_file}/{name}", self._file_download)
        app.router.add_get("/signin", self._signin)
        app.router.add_post("/upload/v1/{file_id}", self._file_upload)
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
        if request.method == "GET":
            args = dict(request.query)
        elif request.content_type == "application/json":
            args = await request.json()
        else:
            # slack_sdk sends some methods' arguments in the query string of a POST.
            args = {**request.query, **dict(await request.post())}
            for name in ("blocks", "attachments"):
                if isinstance(args.get(name), str):
                    args[name] = json.loads(args[name])
        if not auth.startswith("Bearer "):
            return web.json_response({"ok": False, "error": "not_authed"})
        expected = self.app_token if method == "apps.connections.open" else self.token
        if auth != f"Bearer {expected}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        self.calls.append(SlackCall(method, args))
        problems = check_payload(method, args)
        if problems:
            self.violations.extend(f"{method}: {p}" for p in problems)
            return web.json_response({"ok": False, "error": "invalid_blocks", "errors": problems})
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

    # --- the rest of the surface ---------------------------------------------------

    async def _response(self, request: web.Request) -> web.Response:
        body = await request.json()
        problems = check_payload("response_url", body)
        if problems:
            self.violations.extend(f"response_url: {p}" for p in problems)
            return web.Response(status=400, text="invalid_blocks")
        self.responses.append((request.match_info["rid"], body))
        if len(self.answers_to(request.match_info["rid"])) > 5:
            # https://api.slack.com/interactivity/handling#message_responses
            self.violations.append("response_url used more than five times")
            return web.Response(status=404, text="used_url")
        return web.Response(text="ok")

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("user"):
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "message_ts": f"{1795000000 + next(self._ts)}.000200"}

    def _open_view(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        view_id = f"V{next(self._view_ids):08d}"
        stored = dict(view, id=view_id, hash=f"h{view_id}-1")
        self.views[view_id] = stored
        return {"ok": True, "view": stored}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("trigger_id") in self.expired_triggers:
            return {"ok": False, "error": "expired_trigger_id"}
        return self._open_view(args)

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._open_view(args)

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id") or ""
        if view_id not in self.views:
            return {"ok": False, "error": "not_found"}
        current = self.views[view_id]
        if args.get("hash") and args["hash"] != current["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        version = int(current["hash"].rsplit("-", 1)[1]) + 1
        stored = dict(view, id=view_id, hash=f"h{view_id}-{version}")
        self.views[view_id] = stored
        return {"ok": True, "view": stored}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        self.home[str(args.get("user_id"))] = view
        return {"ok": True, "view": dict(view, id="VHOME")}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = str(args.get("usergroup"))
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": self.usergroups[group]}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users", ""))
        return {"ok": True, "channel": {"id": "D" + users.replace(",", "")}}

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.socket_url}

    # --- files ---------------------------------------------------------------------

    def add_file(self, name: str, data: bytes, mimetype: str) -> dict[str, Any]:
        """A file shared in the workspace; its Slack file object (`url_private`…).
        https://api.slack.com/types/file"""
        file_id = f"F{next(self._file_ids):08d}"
        self.files[file_id] = SlackFile(file_id, name, mimetype, data, len(data), True, name)
        return self.file_object(file_id)

    def file_object(self, file_id: str) -> dict[str, Any]:
        file = self.files[file_id]
        url = self.server_url(f"/files-pri/T0TEAM-{file_id}/{file.name}")
        return {
            "id": file_id,
            "name": file.name,
            "title": file.title,
            "mimetype": file.mimetype,
            "filetype": file.name.rsplit(".", 1)[-1] if "." in file.name else "binary",
            "size": len(file.data) if self.keep_uploads else file.declared_length,
            "url_private": url,
            "url_private_download": url + "?download=1",
        }

    async def _file_download(self, request: web.Request) -> web.StreamResponse:
        """`url_private`: only with the bot token as a Bearer header; without it
        Slack sends the browser to sign in (a redirect to an HTML page).
        https://api.slack.com/types/file#authentication"""
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise web.HTTPFound(self.server_url("/signin"))
        file_id = request.match_info["team_file"].rsplit("-", 1)[-1]
        file = self.files.get(file_id)
        if file is None or file.name != request.match_info["name"]:
            raise web.HTTPNotFound()
        response = web.StreamResponse(headers={"Content-Type": file.mimetype})
        response.content_length = len(file.data)
        await response.prepare(request)
        for start in range(0, len(file.data), FILE_CHUNK):
            await response.write(file.data[start : start + FILE_CHUNK])
        await response.write_eof()
        return response

    async def _signin(self, request: web.Request) -> web.Response:
        return web.Response(
            text="<html><body>Sign in to Slack</body></html>", content_type="text/html"
        )

    def _files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        filename, length = args.get("filename"), str(args.get("length", ""))
        if not filename or not length.isdigit() or int(length) <= 0:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._file_ids):08d}"
        self.files[file_id] = SlackFile(
            file_id, str(filename), "application/octet-stream", declared_length=int(length)
        )
        return {
            "ok": True,
            "upload_url": self.server_url(f"/upload/v1/{file_id}"),
            "file_id": file_id,
        }

    async def _file_upload(self, request: web.Request) -> web.Response:
        """The bytes, raw in the body (Slack also takes a multipart form)."""
        file = self.files.get(request.match_info["file_id"])
        if file is None:
            return web.Response(status=404, text="not found")
        file.mimetype = request.content_type or file.mimetype
        received, kept = 0, bytearray()
        async for chunk in request.content.iter_chunked(FILE_CHUNK):
            received += len(chunk)
            if self.keep_uploads:
                kept += chunk
        if received != file.declared_length:
            return web.Response(status=400, text=f"length mismatch: {received}")
        file.data, file.uploaded = bytes(kept), True
        return web.Response(text=f"OK - {received}")

    def _files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        files = json.loads(files) if isinstance(files, str) else files
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        channel, thread_ts = str(args.get("channel_id") or ""), str(args.get("thread_ts") or "")
        comment = str(args.get("initial_comment") or "")
        done = []
        for entry in files:
            file = self.files.get(str(entry.get("id")))
            if file is None or not file.uploaded:
                return {"ok": False, "error": "file_not_found"}
            file.title = str(entry.get("title") or file.name)
            if channel:
                file.shared.append((channel, thread_ts, comment))
            done.append({"id": file.id, "title": file.title})
        return {"ok": True, "files": done}
