"""A channel's file server: the bytes of customers' files, as each vendor serves them.

`serve(path, body, …)` puts a file (or a JSON answer, such as WhatsApp's media
lookup) at a path, optionally behind an `Authorization` value; every request is
recorded, so a test can say that none was made. One server stands in for every
channel's API host in the inbound-media tests: WhatsApp `GET /{media-id}` then
its `url`, LINE `GET /v2/bot/message/{id}/content`, WeChat `GET
/cgi-bin/media/get`, Twilio `MediaUrl{N}`, and the URLs Meta, Viber and the web
chat widget name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer, RecordedRequest, json_answer


@dataclass(frozen=True)
class Served:
    body: bytes | dict[str, Any]
    content_type: str
    authorization: str | None
    disposition: str | None


@dataclass(kw_only=True)
class FakeChannelFiles(FakeServer):
    files: dict[str, Served] = field(default_factory=dict)

    def serve(
        self,
        path: str,
        body: bytes | dict[str, Any],
        content_type: str = "application/octet-stream",
        *,
        authorization: str | None = None,
        disposition: str | None = None,
    ) -> str:
        """Serve `body` at `path` (a dict as JSON); the file's URL."""
        self.files[path] = Served(body, content_type, authorization, disposition)
        return f"{self.base_url}{path}"

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    async def answer(self, request: RecordedRequest) -> web.StreamResponse:
        served = self.files.get(request.path)
        if served is None:
            return json_answer(404, {"error": "not found"})
        wanted = served.authorization
        if wanted is not None and request.headers.get("Authorization") != wanted:
            return json_answer(401, {"error": "unauthorized"})
        if isinstance(served.body, dict):
            return json_answer(200, served.body)
        headers = {"Content-Disposition": served.disposition} if served.disposition else {}
        return web.Response(body=served.body, content_type=served.content_type, headers=headers)
