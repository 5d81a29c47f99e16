"""The close modal: close a conversation, with an optional reason for the thread."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    InputBlock,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.domain.models import Contact
from bot.slack import ids
from bot.slack.blocks.parts import context_block, markdown, plain_text
from bot.slack.gate import reads_payload
from bot.slack.i18n import t
from bot.slack.origin import Origin
from bot.slack.render import escape
from bot.slack.view_state import ViewState

BLOCK_CLOSE_REASON = "close_reason"
BLOCK_CLOSE_KEEP = "close_keep"
#: A closing reason is a short note for managers.
CLOSE_REASON_MAX = 500


def close_modal(
    contact: Contact, origin: Origin, close_unassigns: bool, lang: str, waiting: int = 0
) -> View:
    """Close a conversation, with an optional reason for the thread; when follow-ups
    or reminders wait for the customer (`waiting`), whether to keep them."""
    name = escape(contact.display_name)
    effect = "compose.close.unassigns" if close_unassigns else "compose.close.keeps_assignee"
    keep: list[Block] = []
    if waiting:
        options = [
            Option(value="keep", text=t("schedule.close.keep.yes", lang)),
            Option(value="drop", text=t("schedule.close.keep.no", lang)),
        ]
        keep = [
            InputBlock(
                block_id=BLOCK_CLOSE_KEEP,
                label=plain_text(t("schedule.close.keep.title", lang)),
                hint=plain_text(t("schedule.close.keep.text", lang, count=waiting)),
                element=RadioButtonsElement(
                    action_id=ids.CLOSE_KEEP, options=options, initial_option=options[0]
                ),
            )
        ]
    return View(
        type="modal",
        callback_id=ids.CLOSE_VIEW,
        title=plain_text(t("compose.close.title", lang)),
        submit=plain_text(t("button.close", lang)),
        close=plain_text(t("button.cancel", lang)),
        private_metadata=json.dumps(
            {"c": contact.id, "o": origin.channel, "t": origin.thread_ts},
            separators=(",", ":"),
        ),
        blocks=[
            SectionBlock(text=markdown(t("compose.close.question", lang, name=name))),
            context_block(t(effect, lang)),
            InputBlock(
                block_id=BLOCK_CLOSE_REASON,
                label=plain_text(t("compose.close.reason", lang)),
                optional=True,
                element=PlainTextInputElement(
                    action_id=ids.CLOSE_REASON,
                    max_length=CLOSE_REASON_MAX,
                    placeholder=plain_text(t("compose.close.reason_placeholder", lang)),
                ),
            ),
            *keep,
        ],
    )


@reads_payload
def read_close(view: Mapping[str, Any]) -> tuple[str, str | None, bool]:
    """(contact id, reason or None, keep what is scheduled) of a submitted close modal."""
    state = ViewState.of(view)
    data = json.loads(state.private_metadata)
    reason = " ".join(state.typed(BLOCK_CLOSE_REASON, ids.CLOSE_REASON).split())
    dropped = state.selected(BLOCK_CLOSE_KEEP, ids.CLOSE_KEEP) == "drop"
    return str(data["c"]), reason or None, not dropped
