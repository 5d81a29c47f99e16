"""The search modal (`/find-contact` with no query): query, inbox, status, sort."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
)
from slack_sdk.models.views import View

from bot.domain.models import ConversationStatus
from bot.services.directory import FindArgs
from bot.slack import ids
from bot.slack.gate import reads_payload
from bot.slack.i18n import t
from bot.slack.view_state import ViewState
from bot.store.search import Scope, SortOrder

QUERY_BLOCK, SCOPE_BLOCK, STATUS_BLOCK, SORT_BLOCK = "q", "scope", "status", "sort"
MAX_QUERY = 200


def _plain(text: str) -> PlainTextObject:
    return PlainTextObject(text=text, emoji=True)


def _radio(action_id: str, choices: list[tuple[str, str]], initial: str) -> RadioButtonsElement:
    options = [Option(value=value, label=label) for value, label in choices]
    chosen = next(o for o in options if o.value == initial)
    return RadioButtonsElement(action_id=action_id, options=options, initial_option=chosen)


def search_modal(args: FindArgs, channel_id: str, lang: str) -> View:
    """Results go back to the channel the command came from (`private_metadata`)."""
    status = args.status.value if args.status else "any"
    return View(
        type="modal",
        callback_id=ids.SEARCH_VIEW,
        title=_plain(t("search.modal.title", lang)),
        submit=_plain(t("search.modal.submit", lang)),
        close=_plain(t("button.cancel", lang)),
        private_metadata=channel_id,
        blocks=[
            InputBlock(
                block_id=QUERY_BLOCK,
                label=_plain(t("search.modal.query", lang)),
                hint=_plain(t("search.modal.query_hint", lang)),
                element=PlainTextInputElement(
                    action_id=ids.SEARCH_QUERY,
                    max_length=MAX_QUERY,
                    placeholder=_plain(t("search.modal.query_placeholder", lang)),
                ),
            ),
            InputBlock(
                block_id=SCOPE_BLOCK,
                label=_plain(t("search.modal.scope", lang)),
                element=_radio(
                    ids.SEARCH_SCOPE,
                    [(s.value, t(f"scope.{s.value}", lang)) for s in Scope],
                    args.scope.value,
                ),
            ),
            InputBlock(
                block_id=STATUS_BLOCK,
                label=_plain(t("search.modal.status", lang)),
                element=_radio(
                    ids.SEARCH_STATUS,
                    [(v, t(f"filter.{v}", lang)) for v in ("closed", "open", "any")],
                    status,
                ),
            ),
            InputBlock(
                block_id=SORT_BLOCK,
                label=_plain(t("search.modal.sort", lang)),
                element=_radio(
                    ids.SEARCH_SORT,
                    [(s.value, t(f"sort.{s.value}", lang)) for s in SortOrder],
                    args.sort.value,
                ),
            ),
        ],
    )


@reads_payload
def read_search_modal(state: dict[str, Any]) -> FindArgs:
    """The submitted modal's values (its `state`) as `/find-contact` arguments."""
    view = ViewState.of({"state": state})
    status = view.selected(STATUS_BLOCK, ids.SEARCH_STATUS) or ""
    return FindArgs(
        query=view.typed(QUERY_BLOCK, ids.SEARCH_QUERY).strip(),
        scope=Scope(view.selected(SCOPE_BLOCK, ids.SEARCH_SCOPE) or Scope.MINE.value),
        status=None if status == "any" else ConversationStatus(status or "closed"),
        sort=SortOrder(view.selected(SORT_BLOCK, ids.SEARCH_SORT) or SortOrder.RECENT.value),
    )
