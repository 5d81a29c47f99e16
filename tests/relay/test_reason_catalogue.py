"""Every reason the relay (or a connector) can record is in both catalogues, and
a thread shows it in its own language."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from bot.domain.channels import Channel
from bot.domain.messages import Form, OutboundMessage, SendMode
from bot.domain.models import MessageStatus
from bot.domain.windows import LINE_MONTH_SPENT, SEND_REFUSAL_KEYS, Reason, stored_reason
from bot.relay.relay import RELAY_REASON_KEYS
from bot.slack.blocks.threads import status_words
from bot.slack.i18n import LANGUAGES, catalogue

ROOT = Path(__file__).resolve().parents[2]
_SEND_KEY = re.compile(r"send(?:\.[a-z0-9_]+)+")


def keys_in_source(folder: str) -> set[str]:
    """Every `send.*` catalogue key written in a folder's modules (the connectors'
    reasons, their error tables' included)."""
    found: set[str] = set()
    for path in (ROOT / folder).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and _SEND_KEY.fullmatch(value):
                found.add(value)
    return found


CONNECTOR_KEYS = keys_in_source("bot/channels")
REASON_KEYS = sorted(RELAY_REASON_KEYS | SEND_REFUSAL_KEYS | {LINE_MONTH_SPENT} | CONNECTOR_KEYS)


def test_the_connectors_give_their_reasons_as_catalogue_keys() -> None:
    assert len(CONNECTOR_KEYS) > 100  # every table and refusal, found


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", REASON_KEYS)
def test_every_reason_key_is_in_both_catalogues_with_the_same_placeholders(key: str) -> None:
    found = [catalogue(lang).get(key) for lang in LANGUAGES]
    assert all(found), key
    assert len({frozenset(placeholders(text or "")) for text in found}) == 1


def failed(reason: str) -> OutboundMessage:
    return OutboundMessage(
        id="m1",
        contact_id="0-1",
        channel=Channel.TELEGRAM,
        mode=SendMode.FREE,
        form=Form.TEXT,
        sender="U1",
        status=MessageStatus.FAILED,
        reason=reason,
    )


def test_an_arabic_thread_shows_the_reason_in_arabic() -> None:
    stored = stored_reason(
        Reason(
            "send.refused.unreachable",
            {"channel": "telegram", "reason_key": "reach.reason.blocked", "since": "2026-11-24"},
        )
    )
    arabic = status_words(failed(stored), "ar")
    english = status_words(failed(stored), "en")
    assert "حظر العميل البوت" in arabic and "لم تُرسَل" in arabic
    assert "blocked the bot" in english and "Not sent" in english
    assert "send.refused" not in arabic + english


def test_a_gave_up_reason_shows_the_last_tries_reason_in_the_threads_language() -> None:
    last = stored_reason(Reason("send.refused.window_closed"))
    stored = stored_reason(Reason("send.failed.gave_up", {"attempts": 8, "reason": last}))
    arabic = status_words(failed(stored), "ar")
    assert "أُغلقت نافذة المراسلة" in arabic and "8" in arabic


def test_each_connector_call_gives_the_parameters_its_reason_names() -> None:
    """`SendResult.failed("send.refused", channel=…, detail=…)`: every placeholder
    of the English text is given at the call (the error tables' rules get the
    channel where they are used; `_unknown` adds channel and detail)."""
    english = catalogue("en")
    missing = []
    for path in (ROOT / "bot/channels").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            if not _SEND_KEY.fullmatch(first.value):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else ""
            given = {kw.arg for kw in node.keywords if kw.arg}
            if isinstance(node.func, ast.Name):  # an error table's rule, or `_unknown`
                given |= {"channel", "detail"} if node.func.id == "_unknown" else {"channel"}
            if name == "" and len(node.args) > 1 and isinstance(node.args[1], ast.Dict):
                given |= {k.value for k in node.args[1].keys if isinstance(k, ast.Constant)}
            needed = placeholders(english[first.value]) - given
            if needed:
                missing.append((path.name, node.lineno, first.value, sorted(needed)))
    assert missing == []
