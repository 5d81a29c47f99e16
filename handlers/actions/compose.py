"""Buttons that start a follow-up, and the compose modal's own selects.

* *Follow up* on a contact (search results, alerts, App Home) and *this one*
  after an ambiguous `/followup`: the compose modal (or, with a one-line
  message, the fast path).
* *Use a template* after a refused one-line follow-up: the modal on the
  template form.
* *Send on …* / *Take over and send*: a one-line follow-up the answer carried.
* Inside the modal: the channel, form and template selects, the parameter
  inputs and *Preview* redraw it (`views.update` with the view's hash).
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.domain.windows import Form
from bot.services.compose_plan import Draft
from bot.services.finding import ContactFinder
from bot.slack import ids
from bot.slack.answers import Answers, Reply, origin_of
from bot.slack.background import Background
from bot.slack.blocks.answers import LineSend, text_answer, unpack_template_choice
from bot.slack.blocks.compose_context import PARAM_ACTION
from bot.slack.blocks.compose_template import template_options
from bot.slack.compose_flow import ComposeFlow
from bot.slack.compose_form import read_compose
from bot.slack.gate import MalformedSlackRequest, reads_payload
from bot.slack.i18n import t
from bot.slack.intake import SlackIntake, durable
from handlers.payloads import BlockActions, BlockSuggestion, parse

#: Intake kinds (bot.slack.intake) of the buttons that send.
KIND_CHOOSE_SEND = "action.followup.choose_send"
KIND_LINE_SEND = "action.followup.line_send"


@reads_payload
def _chosen(click: BlockActions) -> tuple[str, str]:
    """A "this one" button's contact and message (`choices_message`)."""
    chosen = json.loads(click.action.value)
    return str(chosen["c"]), str(chosen.get("m") or "")


def choice_key(click: BlockActions, contact_id: str) -> str:
    """The idempotency key of a one-line follow-up sent by choosing its contact.

    The list's message and the contact: a double tap sends once, while the
    same line typed again later (a new list) is a new follow-up.
    """
    message_ts = click.container.message_ts or click.message.ts
    if message_ts:
        return f"choose:{message_ts}:{contact_id}"
    return click.trigger_id


def register(
    app: AsyncApp,
    *,
    flow: ComposeFlow,
    finder: ContactFinder,
    intake: SlackIntake,
    answers: Answers,
    background: Background,
) -> None:
    def responder(body: dict[str, Any], *, replace: bool) -> Reply:
        return answers.to(body, replace=replace)

    async def open_for(
        body: dict[str, Any], contact_id: str, lang: str, draft: Draft | None = None
    ) -> None:
        click = parse(BlockActions, body)
        opened = await flow.open(
            contact_id=contact_id,
            agent=click.agent,
            lang=lang,
            trigger_id=click.trigger_id,
            origin=origin_of(body),
            draft=draft,
            from_view=click.view,
        )
        if not opened:
            await responder(body, replace=False)(*text_answer(t("compose.gone", lang)))

    async def contact_followup(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        contact_id = parse(BlockActions, body).action.value
        lang = str(context["lang"])
        background.run(open_for(body, contact_id, lang), on_error=answers.apology(body, lang))

    async def choose(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        lang = str(context["lang"])
        contact_id, message = _chosen(parse(BlockActions, body))
        if not message.strip():
            await ack()
            background.run(open_for(body, contact_id, lang), on_error=answers.apology(body, lang))
            return
        await intake.submit(KIND_CHOOSE_SEND, body, lang)  # stored before the ack
        await ack()

    async def choose_send(body: dict[str, Any], lang: str) -> None:
        click = parse(BlockActions, body)
        contact_id, message = _chosen(click)
        deliver = responder(body, replace=True)
        contact = await finder.get(contact_id)
        if contact is None:
            await deliver(*text_answer(t("compose.gone", lang)))
            return
        key = choice_key(click, contact_id)
        await flow.send_line(contact, click.agent, message, key, lang, deliver, rerun=click.rerun)

    async def use_template(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        contact_id, channel = unpack_template_choice(parse(BlockActions, body).action.value)
        draft = Draft(channel=channel, form=Form.TEMPLATE)
        lang = str(context["lang"])
        background.run(
            open_for(body, contact_id, lang, draft), on_error=answers.apology(body, lang)
        )

    async def line_send(body: dict[str, Any], lang: str) -> None:
        click = parse(BlockActions, body)
        line = LineSend.unpack(click.action.value)
        deliver = responder(body, replace=True)
        contact = await finder.get(line.contact_id)
        if contact is None:
            await deliver(*text_answer(t("compose.gone", lang)))
            return
        await flow.send_line(
            contact,
            click.agent,
            line.text,
            line.key,
            lang,
            deliver,
            channel=line.channel,
            takeover=line.takeover,
            rerun=click.rerun,
        )

    async def redraw(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        click = parse(BlockActions, body)
        if click.view is None:
            raise MalformedSlackRequest("a compose select outside its modal")
        lang = str(context["lang"])
        background.run(flow.redraw(click.view, click.agent, lang, click.action.as_dict()))

    async def template_choices(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """More approved templates than a static select holds: filtered as the agent types."""
        asked = parse(BlockSuggestion, body)
        compose, draft = read_compose(asked.view or {})
        plan = await flow.service.plan(compose.contact_id, asked.agent, draft)
        lang = str(context["lang"])
        options = template_options(plan, asked.value, lang=lang) if plan else []
        await ack(options=[o.to_dict() for o in options])

    app.action(ids.CONTACT_FOLLOWUP)(contact_followup)
    app.action(ids.CONTACT_CHOOSE_FOLLOWUP)(choose)
    app.action(ids.USE_TEMPLATE)(use_template)
    intake.on(KIND_CHOOSE_SEND, choose_send, answers.apology)
    intake.on(KIND_LINE_SEND, line_send, answers.apology)
    app.action(ids.FOLLOWUP_LINE_SEND)(durable(intake, KIND_LINE_SEND))
    for action_id in (
        ids.COMPOSE_CHANNEL,
        ids.COMPOSE_FORM,
        ids.COMPOSE_TEMPLATE,
        ids.COMPOSE_TEMPLATE_LANGUAGE,
    ):
        app.action(action_id)(redraw)
    app.action(ids.COMPOSE_PREVIEW)(redraw)
    app.action(PARAM_ACTION)(redraw)
    app.options(ids.COMPOSE_TEMPLATE)(template_choices)
