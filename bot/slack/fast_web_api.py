"""Web API calls with a JSON body, sent straight on the shared aiohttp session.

slack-sdk's path for every call (`api_call` → `_send` → `_request_with_session`)
builds retry state, checks each retry handler, decodes the answer with the
standard library's `json` and wraps it twice before our code sees it. For a
`views.open` of the compose modal that was about 100 µs of CPU per call more
than posting the same bytes with aiohttp and decoding them with orjson (about
300 µs against 200 µs, `views.open` of an 8-block modal to a local server,
client and server in one process on this machine); the compose modal opens
on every second request of `bench/ack.py`.

`first_try` makes the first attempt of such a call and returns what
slack-sdk's `_request` returns (`data`, `headers`, `status_code`), from which
slack-sdk builds and validates the `AsyncSlackResponse` as before (`ok: false`
still raises `SlackApiError`). It returns None where slack-sdk's retry
handlers would act, and the caller then sends the call through slack-sdk:
* 429: after waiting the `Retry-After` it was told (as slack-sdk's
  `AsyncRateLimitErrorRetryHandler` would), so the retries keep their budget;
* a connection that failed before an answer came (`aiohttp.ClientConnectionError`,
  which covers the errors slack-sdk's `AsyncConnectionErrorRetryHandler`
  retries): sent again once more than before, never answered twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import orjson
from slack_sdk.errors import SlackApiError

from bot.channels.base import retry_after_seconds

logger = logging.getLogger(__name__)

#: What slack-sdk sends itself, besides the headers it built (its `req_args`).
_PLAIN_ARGS = frozenset({"headers", "json", "ssl", "data", "files", "params", "proxy", "auth"})
#: Longest `Retry-After` waited here before slack-sdk takes over (Slack asks seconds).
MAX_RETRY_AFTER_SECONDS = 60


def can_go_first(http_verb: str, req_args: dict[str, Any]) -> bool:
    """A POST with a JSON body only: no form, files, query, proxy or auth of its own."""
    if http_verb != "POST" or req_args.get("json") is None:
        return False
    if not set(req_args) <= _PLAIN_ARGS:
        return False
    return not any(req_args.get(k) for k in ("data", "files", "params", "proxy", "auth"))


async def first_try(
    session: aiohttp.ClientSession, api_url: str, req_args: dict[str, Any]
) -> dict[str, Any] | None:
    """The call's answer as slack-sdk's `_request` gives it, or None: send it through
    slack-sdk (its retry handlers would have acted on this attempt)."""
    extra: dict[str, Any] = {}
    if req_args.get("ssl") is not None:
        extra["ssl"] = req_args["ssl"]
    try:
        async with session.post(
            api_url, data=orjson.dumps(req_args["json"]), headers=req_args["headers"], **extra
        ) as res:
            if res.status == 429:
                wait = _retry_after(res.headers.get("Retry-After"))
                logger.info("slack web api rate limited", extra={"retry_after": wait})
                await asyncio.sleep(wait)
                return None
            raw = await res.read()
            return {"data": _data(res, raw), "headers": res.headers, "status_code": res.status}
    except aiohttp.ClientConnectionError:
        return None


def _retry_after(value: str | None) -> float:
    asked = retry_after_seconds(value)
    return min(1.0 if asked is None else asked, MAX_RETRY_AFTER_SECONDS)


def _data(res: aiohttp.ClientResponse, raw: bytes) -> Any:
    """The body as slack-sdk reads it: JSON, text, gzip bytes, else nothing."""
    kind = res.content_type
    if kind == "application/gzip":
        return raw
    if kind == "text/plain":
        return raw.decode(res.charset or "utf-8", "replace")
    if kind != "application/json" and not (
        kind.startswith("application/") and kind.endswith("+json")
    ):
        return {}
    if not raw.strip():
        return None  # as aiohttp's `json()`
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise SlackApiError(  # type: ignore[no-untyped-call]
            f"Received a response in a non-JSON format: {raw[:100]!r}", res
        ) from None
