"""Reading the compose modal back: its context and what the agent chose and typed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.channels import Channel
from bot.domain.windows import Form
from bot.services.compose_plan import Draft
from bot.slack import ids
from bot.slack.blocks.compose_context import (
    BLOCK_CHANNEL,
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


def _selected(values: Mapping[str, Any], block: str, action: str) -> str | None:
    element = (values.get(block) or {}).get(action) or {}
    option = element.get("selected_option") or {}
    value = option.get("value")
    return str(value) if value else None


def _typed(values: Mapping[str, Any], block: str, action: str) -> str:
    element = (values.get(block) or {}).get(action) or {}
    return str(element.get("value") or "")


def read_compose(
    view: Mapping[str, Any], action: Mapping[str, Any] | None = None
) -> tuple[ComposeContext, Draft]:
    """The modal's context and what the agent has chosen and typed.

    `action` is a block action that just happened in the modal: its selection
    wins over the view's state (which Slack sends as of the same moment). A
    changed channel starts its form, template and tag afresh.
    """
    context = ComposeContext.unpack(str(view.get("private_metadata") or "{}"))
    values: Mapping[str, Any] = (view.get("state") or {}).get("values") or {}
    picked: dict[str, str] = {}
    if action is not None and isinstance(action.get("selected_option"), dict):
        picked[str(action.get("action_id"))] = str(action["selected_option"].get("value") or "")
    channel_value = picked.get(ids.COMPOSE_CHANNEL) or _selected(
        values, BLOCK_CHANNEL, ids.COMPOSE_CHANNEL
    )
    channel = _channel(channel_value) or context.channel
    form_value = picked.get(ids.COMPOSE_FORM) or _selected(values, BLOCK_FORM, ids.COMPOSE_FORM)
    form = _form(form_value) or context.form
    template = picked.get(ids.COMPOSE_TEMPLATE) or _selected(
        values, BLOCK_TEMPLATE, ids.COMPOSE_TEMPLATE
    )
    # The template select names a template (in the agent's language); its
    # language select, when the template has several, picks the variant.
    language = picked.get(ids.COMPOSE_TEMPLATE_LANGUAGE)
    if language is None and template and ids.COMPOSE_TEMPLATE not in picked:
        language = _selected(
            values, language_block(template_name(template)), ids.COMPOSE_TEMPLATE_LANGUAGE
        )
    if language and template_name(language) == template_name(template or language):
        template = language
    tag = picked.get(ids.COMPOSE_TAG) or _selected(values, BLOCK_TAG, ids.COMPOSE_TAG)
    text = _typed(values, BLOCK_TEXT, ids.COMPOSE_TEXT) if BLOCK_TEXT in values else context.text
    params: dict[int, str] = {}
    prefix = f"{PARAM_BLOCK}{template_digest(template_name(template or ''))}:"
    for block_id, elements in values.items():
        if not block_id.startswith(prefix):
            continue
        number = block_id[len(prefix) :]
        if number.isdigit():
            params[int(number)] = str(
                (elements.get(param_action(int(number))) or {}).get("value") or ""
            )
    ordered = tuple(params.get(n, "") for n in range(1, max(params, default=0) + 1))
    takeover_element = (values.get(BLOCK_TAKEOVER) or {}).get(ids.TAKEOVER_CONFIRM) or {}
    takeover = bool(takeover_element.get("selected_options"))
    if channel != context.channel:
        form, template, tag, ordered = None, None, None, ()
    send_at, remind_after = read_when(values)
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
