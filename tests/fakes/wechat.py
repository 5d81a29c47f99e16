"""A local stand-in for the WeChat Official Account API.

`POST /cgi-bin/stable_token` issues access tokens (the normal mode returns the
current one; `force_refresh` replaces it and revokes the old), and
`POST /cgi-bin/message/custom/send?access_token=…` checks the token and the
message as WeChat does (text, or image / voice / video by the `media_id` of
a file uploaded to `POST /cgi-bin/media/upload?access_token=…&type=…`,
multipart `media`, read as a stream and kept in `media`). Every answer is
HTTP 200 with `{"errcode", "errmsg"}`.
Records every request; can be told to answer the next requests of an endpoint
with an error or slowly.
https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
https://developers.weixin.qq.com/doc/offiaccount/en/Asset_Management/New_temporary_materials.html
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from aiohttp import web

from tests.fakes.base import FakeServer, RecordedRequest, json_answer
from tests.fakes.multipart import Upload, read_upload

Endpoint = Literal["token", "send", "upload"]
TOKEN_PATH = "/cgi-bin/stable_token"
SEND_PATH = "/cgi-bin/message/custom/send"
UPLOAD_PATH = "/cgi-bin/media/upload"
ENDPOINTS: dict[str, Endpoint] = {TOKEN_PATH: "token", SEND_PATH: "send", UPLOAD_PATH: "upload"}
#: Temporary media: the largest file of each type.
MB = 1024 * 1024
UPLOAD_MAX = {"image": 10 * MB, "voice": 2 * MB, "video": 10 * MB, "thumb": 64 * 1024}

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid openid",
    40013: "invalid appid",
    40125: "invalid appsecret",
    40164: "invalid ip, not in whitelist",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    40004: "invalid media type",
    40006: "invalid meida size",
    41005: "media data missing",
}


def wechat_error(errcode: int, errmsg: str | None = None) -> dict[str, Any]:
    """WeChat's answer: https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html"""
    message = errmsg or ERRMSG.get(errcode, "error")
    return {"errcode": errcode, "errmsg": f"{message} rid: {uuid.uuid4().hex[:24]}"}


@dataclass
class FakeWeChat(FakeServer):
    app_id: str = "wx1234567890abcdef"
    app_secret: str = "wechat-app-secret"
    followers: set[str] | None = None  # None: everyone follows
    token_delay: float = 0.0  # seconds each stable_token answer takes
    expires_in: int = 7200
    current_token: str = "token-1"
    revoked: set[str] = field(default_factory=set)  # refused by send, still handed out
    #: Uploaded temporary media, by the `media_id` answered.
    media: dict[str, Upload] = field(default_factory=dict)
    _issued: int = 1

    @property
    def token_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == TOKEN_PATH]

    @property
    def uploads(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == UPLOAD_PATH]

    @property
    def sends(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == SEND_PATH]

    def fail_next(
        self,
        errcode: int = -1,
        *,
        endpoint: Endpoint = "send",
        http_status: int = 200,
        body: Any = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `endpoint` request with `errcode` (or an HTTP error), after `delay` s."""
        if body is None:
            body = wechat_error(errcode) if http_status == 200 else "Bad Gateway"
        self.answer_next(http_status, body, delay=delay, key=endpoint)

    def slow_next(self, delay: float, *, endpoint: Endpoint = "send") -> None:
        """Answer the next `endpoint` request normally, but only after `delay` seconds."""
        self.answer_next(0, delay=delay, key=endpoint)

    def script_key(self, request: RecordedRequest) -> str | None:
        return ENDPOINTS.get(request.path) if request.method == "POST" else None

    async def answer(self, request: RecordedRequest) -> web.StreamResponse:
        endpoint = self.script_key(request)
        if endpoint is None:
            return json_answer(404, "Not Found")
        if endpoint == "token":
            return await self._token(request.json)
        if endpoint == "upload":
            return self._upload(request, cast(Upload | str | None, self.streamed_of(request)))
        return self._send(request)

    async def read_streamed(self, request: web.Request) -> Upload | str | None:
        """An upload's file is read as a stream, never held (its body is not recorded)."""
        if request.path != UPLOAD_PATH:
            return None
        return await read_upload(request)

    def _upload(self, request: RecordedRequest, upload: Upload | str | None) -> web.Response:
        token = request.query.get("access_token")
        if not token:
            return json_answer(200, wechat_error(41001))
        if token != self.current_token or token in self.revoked:
            return json_answer(200, wechat_error(40001))
        kind = request.query.get("type", "")
        if kind not in UPLOAD_MAX:
            return json_answer(200, wechat_error(40004))
        if not isinstance(upload, Upload) or upload.file_field != "media":
            return json_answer(200, wechat_error(41005))
        if upload.size > UPLOAD_MAX[kind]:
            return json_answer(200, wechat_error(40006))
        media_id = f"{kind}-{uuid.uuid4().hex}"
        self.media[media_id] = upload
        return json_answer(200, {"type": kind, "media_id": media_id, "created_at": 1795003200})

    async def _token(self, payload: Any) -> web.Response:
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if not isinstance(payload, dict) or payload.get("grant_type") != "client_credential":
            return json_answer(200, wechat_error(40002, "invalid grant_type"))
        if payload.get("appid") != self.app_id:
            return json_answer(200, wechat_error(40013))
        if payload.get("secret") != self.app_secret:
            return json_answer(200, wechat_error(40125))
        if payload.get("force_refresh") is True:
            self.revoked.add(self.current_token)
            self._issued += 1
            self.current_token = f"token-{self._issued}"
        return json_answer(200, {"access_token": self.current_token, "expires_in": self.expires_in})

    def _send(self, request: RecordedRequest) -> web.Response:
        payload = request.json
        token = request.query.get("access_token")
        if not token:
            return json_answer(200, wechat_error(41001))
        if token != self.current_token or token in self.revoked:
            return json_answer(200, wechat_error(40001))
        if not isinstance(payload, dict):
            return json_answer(200, wechat_error(44002))
        msgtype = payload.get("msgtype")
        body = payload.get(msgtype) if isinstance(msgtype, str) else None
        if not payload.get("touser") or not isinstance(body, dict):
            return json_answer(200, wechat_error(44002))
        if msgtype == "text":
            if not body.get("content"):
                return json_answer(200, wechat_error(44002))
        elif msgtype in ("image", "voice", "video"):
            uploaded = self.media.get(str(body.get("media_id")))
            if uploaded is None or not str(body.get("media_id")).startswith(msgtype):
                return json_answer(200, wechat_error(40007, "invalid media_id"))
        else:
            return json_answer(200, wechat_error(44002))
        if self.followers is not None and payload["touser"] not in self.followers:
            return json_answer(200, wechat_error(43004))
        return json_answer(200, {"errcode": 0, "errmsg": "ok"})
