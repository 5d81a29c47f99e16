"""A local stand-in for the Telegram Bot API (`POST /bot{token}/sendMessage`,
and the multipart file uploads `sendPhoto`, `sendVideo`, `sendAudio`,
`sendDocument`).

Checks a request as Telegram does (token in the path, `chat_id` and `text`, or
the file in the method's field) and answers with the documented shapes;
records every request (an upload's file as its name, type, size and SHA-256 in
`uploads`, read as a stream: the fake never holds it whole); can be told to
answer the next requests with an error or slowly.
https://core.telegram.org/bots/api#making-requests,
https://core.telegram.org/bots/api#sending-files
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web

from tests.fakes.base import FakeServer, RecordedRequest, json_answer
from tests.fakes.multipart import Upload, read_upload

MB = 1024 * 1024
#: The file field of each upload method; photos up to 10 MB, any upload up to 50 MB.
FILE_FIELDS = {
    "sendPhoto": "photo",
    "sendVideo": "video",
    "sendAudio": "audio",
    "sendDocument": "document",
    "sendSticker": "sticker",
}
PHOTO_MAX = 10 * MB
UPLOAD_MAX = 50 * MB


def telegram_error(code: int, description: str, **parameters: Any) -> dict[str, Any]:
    """Telegram's error body: https://core.telegram.org/bots/api#making-requests"""
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


@dataclass
class FakeTelegram(FakeServer):
    token: str = "123456:telegram-test-token"
    known_chats: set[str] | None = None  # None: every chat exists
    uploads: list[Upload] = field(default_factory=list)
    _next_id: int = 100
    #: Customers' files by file_id: (file_path, bytes), served by getFile and /file/bot…
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def add_file(self, file_id: str, body: bytes, file_path: str = "photos/file_0.jpg") -> None:
        """A file a customer sent, fetched as https://core.telegram.org/bots/api#getfile says."""
        self.files[file_id] = (file_path, body)

    def fail_next(
        self,
        status: int = 500,
        *,
        description: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        **parameters: Any,
    ) -> None:
        """Answer the next request with `status` (Telegram's error JSON), after `delay` s."""
        if body is None:
            body = telegram_error(status, description or "Internal Server Error", **parameters)
        self.answer_next(status, body, headers, delay)

    async def read_streamed(self, request: web.Request) -> Upload | str | None:
        """An upload: the form, its file streamed through a hash; a Bad Request text
        when malformed."""
        if request.content_type != "multipart/form-data":
            return None
        method = request.path.rsplit("/", 1)[-1]
        read = await read_upload(request)
        if isinstance(read, str):
            if read == "no file in the form":
                return f"Bad Request: there is no {FILE_FIELDS.get(method, 'file')} in the request"
            return f"Bad Request: {read}"
        return read

    async def answer(self, request: RecordedRequest) -> web.StreamResponse:
        if request.path.startswith("/file/bot"):
            return self._serve_file(request.path.removeprefix("/file/bot"))
        # An empty body is an empty set of parameters, as with a GET.
        token, _, method = request.path.removeprefix("/bot").partition("/")
        if not request.path.startswith("/bot") or token != self.token:
            return json_answer(401, telegram_error(401, "Unauthorized"))
        if method in FILE_FIELDS:
            return self._answer_upload(method, cast(Upload | str | None, self.streamed_of(request)))
        payload = request.json if request.body else {}
        if method == "getFile":
            return self._get_file(payload if isinstance(payload, dict) else {})
        if method != "sendMessage":
            return json_answer(404, telegram_error(404, "Not Found: method not found"))
        if not isinstance(payload, dict):
            return json_answer(400, telegram_error(400, "Bad Request: invalid JSON"))
        chat_id = payload.get("chat_id")
        if chat_id in (None, ""):
            return json_answer(400, telegram_error(400, "Bad Request: chat_id is empty"))
        if not payload.get("text"):
            return json_answer(400, telegram_error(400, "Bad Request: message text is empty"))
        if self.known_chats is not None and str(chat_id) not in self.known_chats:
            return json_answer(400, telegram_error(400, "Bad Request: chat not found"))
        self._next_id += 1
        message = {
            "message_id": self._next_id,
            "from": {"id": 123456, "is_bot": True, "first_name": "Support", "username": "sbot"},
            "chat": {"id": int(chat_id), "first_name": "Customer", "type": "private"},
            "date": int(time.time()),
            "text": payload["text"],
        }
        return json_answer(200, {"ok": True, "result": message})

    def _get_file(self, payload: dict[str, Any]) -> web.Response:
        """`{"ok": true, "result": File}`: https://core.telegram.org/bots/api#file"""
        file_id = str(payload.get("file_id") or "")
        if file_id not in self.files:
            return json_answer(400, telegram_error(400, "Bad Request: invalid file_id"))
        path, body = self.files[file_id]
        result = {"file_id": file_id, "file_unique_id": file_id[:8], "file_size": len(body)}
        return json_answer(200, {"ok": True, "result": {**result, "file_path": path}})

    def _serve_file(self, rest: str) -> web.Response:
        token, _, path = rest.partition("/")
        if token != self.token:
            return web.Response(status=401)
        for file_path, body in self.files.values():
            if file_path == path:
                return web.Response(body=body, content_type="application/octet-stream")
        return web.Response(status=404)

    def _answer_upload(self, method: str, upload: Upload | str | None) -> web.Response:
        """https://core.telegram.org/bots/api#sendphoto and #senddocument."""
        if not isinstance(upload, Upload):
            return json_answer(400, telegram_error(400, upload or "Bad Request: not multipart"))
        chat_id = upload.fields.get("chat_id")
        if not chat_id:
            return json_answer(400, telegram_error(400, "Bad Request: chat_id is empty"))
        if upload.file_field != FILE_FIELDS[method]:
            wanted = FILE_FIELDS[method]
            return json_answer(400, telegram_error(400, f"Bad Request: there is no {wanted}"))
        if self.known_chats is not None and chat_id not in self.known_chats:
            return json_answer(400, telegram_error(400, "Bad Request: chat not found"))
        if upload.size > UPLOAD_MAX:
            return json_answer(413, telegram_error(413, "Request Entity Too Large"))
        if method == "sendPhoto" and upload.size > PHOTO_MAX:
            return json_answer(400, telegram_error(400, "Bad Request: PHOTO_INVALID_DIMENSIONS"))
        self.uploads.append(upload)
        self._next_id += 1
        file = {
            "file_id": f"AgAC{self._next_id}",
            "file_unique_id": f"AQAD{self._next_id}",
            "file_size": upload.size,
        }
        media: dict[str, Any]
        if method == "sendPhoto":
            media = {"photo": [{**file, "width": 1280, "height": 960}]}
        else:
            media = {
                upload.file_field: {
                    **file,
                    "file_name": upload.filename,
                    "mime_type": upload.content_type,
                }
            }
        message = {
            "message_id": self._next_id,
            "from": {"id": 123456, "is_bot": True, "first_name": "Support", "username": "sbot"},
            "chat": {"id": int(chat_id), "first_name": "Customer", "type": "private"},
            "date": int(time.time()),
            **media,
        }
        if upload.fields.get("caption"):
            message["caption"] = upload.fields["caption"]
        return json_answer(200, {"ok": True, "result": message})
