"""`POST /slack/events` before Bolt: bounded, verified, understood — never a 5xx.

An unsigned or stale request is a 401 whose log line carries no body; a
well-signed body Slack would never send (a JSON array, bad `payload` JSON,
wrong types, invalid UTF-8, nesting 10,000 deep) is a 400 and reaches no
listener.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.request_limits import SLACK_MAX_BODY_BYTES
from bot.slack import gate, ids
from tests.slack.conftest import AGENT, SIGNING_SECRET, TEAM, Surface

#: What a genuine slash command carries that no log line may show.
COMMAND_TEXT = "call me on +971 50 123 4567 or layla.h@example.com"
RESPONSE_URL = "https://hooks.slack.com/commands/T0TEAM/1234/secretpart"


def command_form(text: str = COMMAND_TEXT) -> str:
    return urlencode(
        {
            "team_id": TEAM,
            "channel_id": "C0GENERAL",
            "user_id": AGENT,
            "user_name": "layla.hassan",
            "command": ids.FIND_CONTACT,
            "text": text,
            "response_url": RESPONSE_URL,
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
    )


def signed_bytes(body: bytes, timestamp: str | None = None) -> dict[str, str]:
    stamp = str(int(time.time())) if timestamp is None else timestamp
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


#: What every log record carries whatever was logged: its times, thread and process ids,
#: source line. Their digits can contain a secret's ("4567" in `created` 1796534567.2) by
#: chance, so the checks below read the message, its arguments and `extra` only.
_BOOKKEEPING = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) - {
    "msg",
    "args",
    "exc_text",
    "stack_info",
}


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """A record's own fields: its message's arguments and `extra`, not its bookkeeping."""
    return {k: v for k, v in vars(record).items() if k not in _BOOKKEEPING}


async def post_raw(
    surface: Surface, body: bytes, headers: dict[str, str], content_type: str
) -> tuple[int, str]:
    response = await surface.client.post(
        "/slack/events", data=body, headers={"Content-Type": content_type, **headers}
    )
    return response.status, await response.text()


# --- unsigned, badly signed, stale ------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    ["abc", "", "1e10", "-5", "1.5", "９９", "99999999999999999999999"],
    ids=["letters", "empty", "exponent", "negative", "decimal", "fullwidth-digits", "huge"],
)
async def test_an_unusable_timestamp_is_401_not_500(surface: Surface, timestamp: str) -> None:
    body = command_form().encode()
    headers = signed_bytes(body, timestamp=timestamp)

    status, _ = await post_raw(surface, body, headers, "application/x-www-form-urlencoded")

    assert status == 401
    assert not surface.slack.calls


async def test_a_stale_genuine_command_is_401_and_its_log_line_has_no_body(
    surface: Surface, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Bolt's logger took the root's level when the app was built: open it up.
    caplog.set_level(logging.DEBUG, logger="slack_bolt.RequestVerification")
    body = command_form().encode()
    stale = signed_bytes(body, timestamp=str(int(time.time()) - 6 * 60))

    status, _ = await post_raw(surface, body, stale, "application/x-www-form-urlencoded")

    assert status == 401
    [refusal] = [r for r in caplog.records if r.getMessage().startswith("slack request refused")]
    assert 360 <= refusal.age_seconds < 400  # type: ignore[attr-defined]  # stale, not forged
    logged = "\n".join(f"{r.getMessage()} {extras(r)}" for r in caplog.records)
    for secret_part in ("layla", "4567", "secretpart", "13345224609", "find-contact"):
        assert secret_part not in logged


async def test_a_badly_signed_body_reaches_no_listener(surface: Surface) -> None:
    body = command_form().encode()
    headers = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"}

    status, _ = await post_raw(surface, body, headers, "application/x-www-form-urlencoded")

    assert status == 401
    assert not surface.slack.calls


async def test_a_genuine_command_is_verified_once_before_bolt(
    surface: Surface, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The signature is checked once, by the gate; Bolt's own check of the same
    # body (HMAC and timestamp again) would only cost time.
    checked: list[str] = []
    genuine = gate.signature_valid

    def counted(*args: Any, **kwargs: Any) -> bool:
        checked.append("gate")
        return genuine(*args, **kwargs)

    def bolt_checks(*args: Any, **kwargs: Any) -> bool:
        checked.append("bolt")
        return True

    monkeypatch.setattr(gate, "signature_valid", counted)
    monkeypatch.setattr(SignatureVerifier, "is_valid", bolt_checks)

    status, _, _ = await surface.command(ids.FIND_CONTACT, "layla")

    assert status == 200
    assert checked == ["gate"]


async def test_a_body_over_the_slack_limit_is_413(surface: Surface) -> None:
    body = command_form("x" * SLACK_MAX_BODY_BYTES).encode()

    status, _ = await post_raw(
        surface, body, signed_bytes(body), "application/x-www-form-urlencoded"
    )

    assert status == 413


# --- well signed, but malformed -----------------------------------------------------------


def form(payload: Any) -> tuple[bytes, str]:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return urlencode({"payload": text}).encode(), "application/x-www-form-urlencoded"


def as_json(value: Any) -> tuple[bytes, str]:
    text = value if isinstance(value, str) else json.dumps(value)
    return text.encode(), "application/json"


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


BLOCK_ACTION = {
    "type": "block_actions",
    "user": {"id": AGENT},
    "team": {"id": TEAM},
    "actions": [{"action_id": ids.CONTACT_REOPEN, "block_id": "b", "value": "1"}],
}

MALFORMED: dict[str, tuple[bytes, str]] = {
    "json-array": as_json([1, 2, 3]),
    "json-string": as_json('"event_callback"'),
    "bad-json": as_json('{"type": "event_callback", '),
    "json-deep": as_json('{"type": "event_callback", "event": ' + deep(10_000) + "}"),
    "event-not-an-object": as_json({"type": "event_callback", "event": [1]}),
    "event-type-number": as_json({"type": "event_callback", "event": {"type": 5}}),
    "team-id-object": as_json({"type": "event_callback", "team_id": {"id": 1}}),
    "authorizations-string": as_json({"type": "event_callback", "authorizations": "x"}),
    "challenge-number": as_json({"type": "url_verification", "challenge": 12}),
    "payload-not-json": form("{not json"),
    "payload-array": form([BLOCK_ACTION]),
    "payload-deep": form('{"type": "block_actions", "actions": ' + deep(10_000) + "}"),
    "payload-no-type": form({"user": {"id": AGENT}}),
    "payload-user-string": form(dict(BLOCK_ACTION, user=AGENT)),
    "payload-team-list": form(dict(BLOCK_ACTION, team=[TEAM])),
    "payload-actions-object": form(dict(BLOCK_ACTION, actions={"action_id": "x"})),
    "payload-action-string": form(dict(BLOCK_ACTION, actions=["contact_reopen"])),
    "payload-action-id-number": form(dict(BLOCK_ACTION, actions=[{"action_id": 7}])),
    "payload-value-object": form(
        dict(BLOCK_ACTION, actions=[{"action_id": ids.CONTACT_REOPEN, "value": {"id": 1}}])
    ),
    "payload-view-string": form(
        {"type": "view_submission", "user": {"id": AGENT}, "view": "compose_view"}
    ),
    "payload-state-list": form(
        {
            "type": "view_submission",
            "user": {"id": AGENT},
            "view": {"id": "V1", "callback_id": ids.COMPOSE_VIEW, "state": {"values": []}},
        }
    ),
    "payload-metadata-number": form(
        {
            "type": "view_submission",
            "user": {"id": AGENT},
            "view": {"id": "V1", "callback_id": ids.COMPOSE_VIEW, "private_metadata": 5},
        }
    ),
    "payload-message-list": form(
        {"type": "message_action", "user": {"id": AGENT}, "message": ["hi"], "callback_id": "x"}
    ),
    "invalid-utf8-form": (
        b"command=%2Ffind-contact&text=\xff\xfe&user_id=U1",
        "application/x-www-form-urlencoded",
    ),
    "invalid-utf8-json": (b'{"type": "event_callback", "x": "\xc3\x28"}', "application/json"),
}


@pytest.mark.parametrize("case", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_well_signed_malformed_body_is_400_and_reaches_no_listener(
    surface: Surface, case: tuple[bytes, str]
) -> None:
    body, content_type = case

    status, _ = await post_raw(surface, body, signed_bytes(body), content_type)

    await surface.settle()
    assert status == 400
    assert not surface.slack.calls


async def test_a_well_signed_url_verification_still_answers_the_challenge(
    surface: Surface,
) -> None:
    body, content_type = as_json({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV"})

    status, text = await post_raw(surface, body, signed_bytes(body), content_type)

    assert status == 200
    assert "3eZbrw1aBm2rZgRNFdxV" in text


SLACK_GARBAGE = {
    "empty": (b"", "application/x-www-form-urlencoded"),
    "json-null": (b"null", "application/json"),
    "json-empty-object": (b"{}", "application/json"),
    "form-noise": (b"a=%ZZ&&==&b", "application/x-www-form-urlencoded"),
    "empty-payload": (b"payload=", "application/x-www-form-urlencoded"),
    "command-without-name": (b"command=&text=hi", "application/x-www-form-urlencoded"),
    "unknown-command": (b"command=%2Fnope&user_id=U1&text=hi", "application/x-www-form-urlencoded"),
    "ssl-check": (b"ssl_check=1&token=x", "application/x-www-form-urlencoded"),
    "nul-bytes": (b"\x00" * 64, "text/plain"),
    "unknown-event": (b'{"type": "event_callback", "event": {"type": "x"}}', "application/json"),
}


@pytest.mark.parametrize("case", SLACK_GARBAGE.values(), ids=SLACK_GARBAGE.keys())
async def test_any_signed_garbage_is_never_a_5xx(surface: Surface, case: tuple[bytes, str]) -> None:
    body, content_type = case

    status, _ = await post_raw(surface, body, signed_bytes(body), content_type)

    await surface.settle()
    assert status < 500


async def test_an_event_whose_user_is_an_object_is_not_refused_as_malformed(
    surface: Surface,
) -> None:
    # user_change and team_join carry the whole user; channel_created the channel.
    body, content_type = as_json(
        {
            "type": "event_callback",
            "team_id": TEAM,
            "event": {"type": "user_change", "user": {"id": AGENT}, "channel": {"id": "C1"}},
        }
    )

    status, _ = await post_raw(surface, body, signed_bytes(body), content_type)

    assert status != 400 and status < 500
