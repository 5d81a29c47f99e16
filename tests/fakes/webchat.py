"""A local stand-in for our website chat widget backend (the outbound side).

Checks each POST as the backend does (path, `X-Webchat-Signature` over the
raw body, `Idempotency-Key`, the message JSON) and de-duplicates on the key:
a repeated key is answered like the first time and shown once. Records every
request; can be told to answer the next ones with an error or slowly.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer, RecordedRequest, json_answer

_ATTACHMENT_TYPES = {"image", "audio", "video", "file"}


def _attachments_ok(attachments: Any) -> bool:
    """Our files as the widget contract has them (bot/channels/webchat.py): each
    `{"type", "name", "mime_type", "size", "url"}`, the url an http(s) link."""
    if not isinstance(attachments, list):
        return False
    return all(
        isinstance(a, dict)
        and a.get("type") in _ATTACHMENT_TYPES
        and isinstance(a.get("name"), str)
        and isinstance(a.get("mime_type"), str)
        and isinstance(a.get("size"), int)
        and str(a.get("url", "")).startswith(("https://", "http://"))
        for a in attachments
    )


@dataclass
class FakeWebchatBackend(FakeServer):
    secret: str = "webchat-secret"
    path: str = "/outbound"
    #: Answer with the backend's own message id (`{"message": {"id": …}}`), or 204.
    answer_ids: bool = True
    #: What visitors saw: one entry per Idempotency-Key.
    shown: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.base_url + self.path

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
        self.answer_next(status, body, headers, delay)

    async def answer(self, request: RecordedRequest) -> web.StreamResponse:
        body = request.body
        if request.path != self.path:
            return json_answer(404, {"error": "not found"})
        if request.method != "POST":
            return json_answer(405, {"error": "method not allowed"})
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Webchat-Signature", ""), expected):
            return json_answer(401, {"error": "bad signature"})
        key = request.headers.get("Idempotency-Key")
        if not key:
            return json_answer(400, {"error": "Idempotency-Key is required"})
        payload = request.json
        try:
            message = payload["message"]
            valid = (
                payload["type"] == "message"
                and isinstance(payload["visitor"]["id"], str)
                and isinstance(message["id"], str)
                and isinstance(message["text"], str)
                and str(message["sent_at"]).endswith("Z")
                and _attachments_ok(message.get("attachments", []))
            )
        except (KeyError, TypeError):
            valid = False
        if not valid:
            return json_answer(400, {"error": "invalid message"})
        self.shown.setdefault(key, payload)
        if not self.answer_ids:
            return web.Response(status=204)
        return json_answer(201, {"message": {"id": f"wc_{key}"}})
