"""Reading the compose modal back: its context and what the agent chose and typed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.channels import Channel
from bot.domain.windows import Form
from bot.services.compose_plan import AttachedFile, Draft
from bot.slack import ids
from bot.slack.blocks.compose_context import (
    BLOCK_CHANNEL,
    BLOCK_FILES,
    BLOCK_FORM,
    BLOCK_TAG,
    BLOCK_TAKEOVER,
    BLOCK_TEMPLATE,
    BLOCK_TEXT,
    PARAM_BLOCK,
    ComposeContext,
    language_block,
    param_action,
    template_digest,
    template_name,
)
from bot.slack.blocks.compose_when import read_when
from bot.slack.gate import reads_payload
from bot.slack.view_state import ViewState


@reads_payload
def read_compose(
    view: Mapping[str, Any], action: Mapping[str, Any] | None = None
) -> tuple[ComposeContext, Draft]:
    """The modal's context and what the agent has chosen and typed.

    `action` is a block action that just happened in the modal: its selection
    wins over the view's state (which Slack sends as of the same moment). A
    changed channel starts its form, template and tag afresh. A state not shaped
    as Slack sends it is a malformed request (`MalformedSlackRequest`).
    """
    state = ViewState.of(view)
    context = ComposeContext.unpack(state.private_metadata)
    values = state.values
    picked: dict[str, str] = {}
    if action is not None and isinstance(action.get("selected_option"), dict):
        picked[str(action.get("action_id"))] = str(action["selected_option"].get("value") or "")
    channel_value = picked.get(ids.COMPOSE_CHANNEL) or state.selected(
        BLOCK_CHANNEL, ids.COMPOSE_CHANNEL
    )
    channel = _channel(channel_value) or context.channel
    form_value = picked.get(ids.COMPOSE_FORM) or state.selected(BLOCK_FORM, ids.COMPOSE_FORM)
    form = _form(form_value) or context.form
    template = picked.get(ids.COMPOSE_TEMPLATE) or state.selected(
        BLOCK_TEMPLATE, ids.COMPOSE_TEMPLATE
    )
    # The template select names a template (in the agent's language); its
    # language select, when the template has several, picks the variant.
    language = picked.get(ids.COMPOSE_TEMPLATE_LANGUAGE)
    if language is None and template and ids.COMPOSE_TEMPLATE not in picked:
        language = state.selected(
            language_block(template_name(template)), ids.COMPOSE_TEMPLATE_LANGUAGE
        )
    if language and template_name(language) == template_name(template or language):
        template = language
    tag = picked.get(ids.COMPOSE_TAG) or state.selected(BLOCK_TAG, ids.COMPOSE_TAG)
    text = state.typed(BLOCK_TEXT, ids.COMPOSE_TEXT) if BLOCK_TEXT in values else context.text
    params: dict[int, str] = {}
    prefix = f"{PARAM_BLOCK}{template_digest(template_name(template or ''))}:"
    for block_id, elements in values.items():
        if not block_id.startswith(prefix):
            continue
        number = block_id[len(prefix) :]
        if number.isdigit():
            element = elements.get(param_action(int(number)))
            params[int(number)] = (element.value or "") if element is not None else ""
    ordered = tuple(params.get(n, "") for n in range(1, max(params, default=0) + 1))
    takeover = state.ticked(BLOCK_TAKEOVER, ids.TAKEOVER_CONFIRM)
    if channel != context.channel:
        form, template, tag, ordered = None, None, None, ()
    send_at, remind_after = read_when(state)
    attached = tuple(
        AttachedFile(f.name, f.mimetype, f.size, f.url_private)
        for f in state.files(BLOCK_FILES, ids.COMPOSE_FILES)
    )
    return context, Draft(
        channel=channel,
        form=form,
        template=template,
        tag=tag,
        text=text,
        params=ordered,
        takeover=takeover,
        send_at=send_at,
        remind_after=remind_after,
        files=context.files + attached,
    )


def _channel(value: str | None) -> Channel | None:
    try:
        return Channel(value) if value else None
    except ValueError:
        return None


def _form(value: str | None) -> Form | None:
    try:
        return Form(value) if value else None
    except ValueError:
        return None
