"""What `POST /slack/events` checks before Bolt sees a request.

Bolt verifies the signature only after it has parsed the body (a JSON array,
bad `payload` JSON or invalid UTF-8 raise there: a 500), answers a timestamp
that is no integer with a 500, and logs the whole body of every request it
refuses (command text, names, `response_url`). Here, in order: the body is read
under SLACK_MAX_BODY_BYTES while it streams (413); the signature is checked as
Slack signs (401, logged without the body); then the shape (400): UTF-8, a form
or a JSON object, `payload` a JSON object, nesting bounded, and the fields Bolt
and the listeners read of the right type. Only a request that passes reaches Bolt.
https://api.slack.com/authentication/verifying-requests-from-slack
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.request_limits import SLACK_MAX_BODY_BYTES, json_depth_ok, read_body

logger = logging.getLogger(__name__)

#: Slack refuses replays older than five minutes; so do we (either way in time).
MAX_SKEW_SECONDS = 5 * 60
_TIMESTAMP_DIGITS = 12


def signature_valid(raw: bytes, timestamp: str, signature: str, secret: str, *, now: float) -> bool:
    """Whether `signature` is Slack's `v0=` HMAC-SHA256 of `v0:{timestamp}:{raw}`
    and `timestamp` (epoch seconds, digits only) is within five minutes of `now`."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _TIMESTAMP_DIGITS):
        return False
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        return False
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256)
    expected = "v0=" + digest.hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


class MalformedSlackRequest(ValueError):
    """A well-signed body Slack would never send: answered 400, nothing happens."""


#: What reading a part of a payload we wrote raises when it is not shaped as we
#: wrote it (tampered metadata, a value that is no contact id, a missing field).
_READ_ERRORS = (KeyError, IndexError, TypeError, ValueError)
_R = TypeVar("_R")
_P = ParamSpec("_P")


def reads_payload(read: Callable[_P, _R]) -> Callable[_P, _R]:
    """Mark `read` as reading what we put in a payload (a button's value, a view's
    metadata or state): whatever it trips on is the request's fault, raised as
    MalformedSlackRequest (400 in `bot.slack.bolt`'s error handler). A KeyError
    or ValueError anywhere else stays a bug: logged with its traceback, a 500."""

    @functools.wraps(read)
    def reading(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return read(*args, **kwargs)
        except MalformedSlackRequest:
            raise
        except _READ_ERRORS as error:
            raise MalformedSlackRequest(f"{read.__name__}: {type(error).__name__}") from error

    return reading


class _Loose(BaseModel):
    """A part of a payload: whatever it carries besides, these fields have these types."""

    model_config = ConfigDict(extra="allow", strict=True)


class _Id(_Loose):
    id: StrictStr | None = None


class _Action(_Loose):
    action_id: StrictStr | None = None
    block_id: StrictStr | None = None
    value: StrictStr | None = None
    type: StrictStr | None = None


class _State(_Loose):
    values: dict[str, dict[str, dict[str, Any]]] = {}


class _View(_Loose):
    id: StrictStr | None = None
    callback_id: StrictStr | None = None
    private_metadata: StrictStr | None = None
    state: _State | None = None
    type: StrictStr | None = None


class _Container(_Loose):
    type: StrictStr | None = None
    message_ts: StrictStr | None = None
    channel_id: StrictStr | None = None
    is_ephemeral: StrictBool | None = None


class _Message(_Loose):
    ts: StrictStr | None = None
    thread_ts: StrictStr | None = None
    text: StrictStr | None = None


class _Interaction(_Loose):
    """Interactivity (`payload=`): block actions, view submissions, shortcuts."""

    type: StrictStr
    user: _Id | None = None
    team: _Id | None = None
    enterprise: _Id | None = None
    channel: _Id | None = None
    actions: list[_Action] | None = None
    view: _View | None = None
    container: _Container | None = None
    message: _Message | None = None
    callback_id: StrictStr | None = None
    response_url: StrictStr | None = None
    trigger_id: StrictStr | None = None
    api_app_id: StrictStr | None = None
    is_enterprise_install: StrictBool | None = None


class _Event(_Loose):
    type: StrictStr
    # An id in most events, an object in some (user_change, channel_created).
    user: StrictStr | dict[str, Any] | None = None
    channel: StrictStr | dict[str, Any] | None = None
    tab: StrictStr | None = None
    ts: StrictStr | None = None
    event_ts: StrictStr | None = None
    thread_ts: StrictStr | None = None


class _Authorization(_Loose):
    team_id: StrictStr | None = None
    user_id: StrictStr | None = None
    enterprise_id: StrictStr | None = None
    is_enterprise_install: StrictBool | None = None


class _Events(_Loose):
    """The Events API: `url_verification` or an `event_callback`."""

    type: StrictStr
    token: StrictStr | None = None
    challenge: StrictStr | None = None
    team_id: StrictStr | None = None
    api_app_id: StrictStr | None = None
    enterprise_id: StrictStr | None = None
    event: _Event | None = None
    event_id: StrictStr | None = None
    authorizations: list[_Authorization] | None = None
    is_ext_shared_channel: StrictBool | None = None


def _json_object(raw: str, model: type[_Loose]) -> None:
    if not json_depth_ok(raw):
        raise MalformedSlackRequest("JSON nested too deep")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise MalformedSlackRequest("not JSON") from error
    if not isinstance(value, dict):
        raise MalformedSlackRequest("not a JSON object")
    try:
        model.model_validate(value)
    except ValidationError as error:
        fields = sorted({".".join(map(str, e["loc"][:2])) for e in error.errors()})
        raise MalformedSlackRequest(f"unexpected fields: {', '.join(fields[:5])}") from None


def check_shape(text: str, content_type: str) -> None:
    """MalformedSlackRequest unless `text` is a body Bolt and the listeners can read.

    Bolt's own reading: JSON when the content type says so or the body starts
    with `{`; else a form, whose `payload` field (when the body mentions one)
    is JSON.
    """
    if not text:
        return
    if content_type == "application/json" or text.startswith("{"):
        _json_object(text, _Events)
        return
    if "payload" in text:  # Bolt's own test: the field or any mention of it
        payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
        if payload is not None:
            _json_object(payload, _Interaction)


def _header(request: web.Request, name: str) -> str:
    return request.headers.get(name, "")


async def admit(
    request: web.Request, signing_secret: str, *, clock: Callable[[], float] = time.time
) -> AsyncBoltRequest:
    """The request for Bolt, once read, verified and understood; else an HTTP error."""
    raw = await read_body(request, SLACK_MAX_BODY_BYTES)
    timestamp = _header(request, "X-Slack-Request-Timestamp")
    signature = _header(request, "X-Slack-Signature")
    now = clock()
    if not signature_valid(raw, timestamp, signature, signing_secret, now=now):
        # No body, no signature: only what tells a stale request from a forged one.
        usable = timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _TIMESTAMP_DIGITS
        logger.warning(
            "slack request refused: bad or stale signature",
            extra={"age_seconds": int(now - int(timestamp)) if usable else None, "bytes": len(raw)},
        )
        raise web.HTTPUnauthorized(text="invalid request")
    try:
        text = raw.decode("utf-8")
        check_shape(text, request.content_type)
    except (UnicodeDecodeError, MalformedSlackRequest) as error:
        reason = "not UTF-8" if isinstance(error, UnicodeDecodeError) else str(error)
        logger.warning("malformed slack request", extra={"error": reason})
        raise web.HTTPBadRequest(text="malformed request") from None
    return AsyncBoltRequest(
        body=text,
        query=request.query_string,
        headers=request.headers,  # type: ignore[arg-type]  # as Bolt's own aiohttp adapter
    )
