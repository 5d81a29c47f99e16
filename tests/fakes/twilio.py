"""A local stand-in for Twilio's Messages API (`POST …/Messages.json`).

Checks a request as Twilio does (path, basic auth, `To`/`From`/`Body`) and
answers with Twilio's documented shapes; records every request; can be told
to answer the next requests with an error or slowly.
https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer, RecordedRequest, json_answer

E164 = re.compile(r"\+[1-9]\d{6,14}")
#: "You can include up to 10 MediaUrl parameters":
#: https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
MAX_MEDIA = 10


def twilio_error(code: int, message: str, status: int) -> dict[str, Any]:
    """Twilio's error body: https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions"""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@dataclass
class FakeTwilio(FakeServer):
    account_sid: str = "AC00000000000000000000000000000001"
    auth_token: str = "twilio-auth-token"
    #: Each accepted message's `MediaUrl`s, in order (empty for a plain SMS).
    media_urls: list[list[str]] = field(default_factory=list)

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
        self.answer_next(status, body, headers, delay)

    async def answer(self, request: RecordedRequest) -> web.StreamResponse:
        form = request.form
        expected = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if request.path != expected:
            return json_answer(
                404, twilio_error(20404, "The requested resource was not found", 404)
            )
        if request.method != "POST":
            return json_answer(405, twilio_error(20004, "Method not allowed", 405))
        if request.headers.get("Authorization") != self._basic_auth():
            return json_answer(401, twilio_error(20003, "Authenticate", 401))
        if not form.get("To"):
            return json_answer(400, twilio_error(21604, "A 'To' phone number is required.", 400))
        if not form.get("From"):
            return json_answer(400, twilio_error(21603, "A 'From' phone number is required.", 400))
        media = [value for name, value in request.form_items if name == "MediaUrl"]
        if not form.get("Body") and not media:
            return json_answer(400, twilio_error(21602, "Message body is required.", 400))
        if len(media) > MAX_MEDIA or not all(
            url.startswith(("https://", "http://")) for url in media
        ):
            # https://www.twilio.com/docs/api/errors/21623
            return json_answer(400, twilio_error(21623, "Invalid media URL(s)", 400))
        if not E164.fullmatch(form["To"]):
            return json_answer(
                400, twilio_error(21211, f"The 'To' number {form['To']} is not valid.", 400)
            )
        self.media_urls.append(media)
        return json_answer(201, self._message(form, len(media)))

    def _basic_auth(self) -> str:
        token = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return f"Basic {token}"

    def _message(self, form: dict[str, str], media: int = 0) -> dict[str, Any]:
        sid = "SM" + uuid.uuid4().hex
        now = format_datetime(datetime.now(UTC), usegmt=True)
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form["From"],
            "messaging_service_sid": None,
            "num_media": str(media),
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": form["To"],
            "uri": f"{base}.json",
        }
