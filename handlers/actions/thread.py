"""Buttons in a conversation's thread (Slack allows no slash command there).

The root: *Follow up* (the compose modal), *Reopen* (when closed) and
*Close* (when open: a modal with an optional reason). A ❗ or failed entry:
*Follow up another way* (the composer, on what may be sent now).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.services.finding import ContactFinder
from bot.services.reopen import ReopenOutcome, ReopenService
from bot.slack import ids
from bot.slack.answers import Answers, origin_of
from bot.slack.background import Background
from bot.slack.blocks.answers import text_answer
from bot.slack.blocks.close_modal import close_modal
from bot.slack.close_flow import CloseFlow
from bot.slack.compose_flow import ComposeFlow
from bot.slack.home import HomeTabs
from bot.slack.i18n import t
from bot.slack.intake import SlackIntake, durable
from bot.slack.render import escape
from handlers.payloads import BlockActions, parse

#: The intake kind (bot.slack.intake) of the root's *Reopen*.
KIND_REOPEN = "action.thread.reopen"


def register(
    app: AsyncApp,
    *,
    flow: ComposeFlow,
    finder: ContactFinder,
    reopener: ReopenService,
    home: HomeTabs,
    intake: SlackIntake,
    answers: Answers,
    background: Background,
    client: AsyncWebClient,
    settings: Settings,
    close_flow: CloseFlow,
) -> None:
    async def answer(body: dict[str, Any], text: str) -> None:
        await answers.to(body)(*text_answer(text))

    async def followup(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang, click = str(context["lang"]), parse(BlockActions, body)

        async def open_composer() -> None:
            opened = await flow.open(
                contact_id=click.action.value,
                agent=click.agent,
                lang=lang,
                trigger_id=click.trigger_id,
                origin=origin_of(body),
                from_view=click.view,
            )
            if not opened:
                await answer(body, t("compose.gone", lang))

        background.run(open_composer(), on_error=answers.apology(body, lang))

    async def reopen(body: dict[str, Any], lang: str) -> None:
        click = parse(BlockActions, body)
        agent = click.agent
        done = await reopener.reopen_from_thread(click.action.value, agent)
        if done is None:
            await answer(body, t("compose.gone", lang))
            return
        outcome, contact = done
        name = escape(contact.display_name)
        if outcome is ReopenOutcome.ALREADY_YOURS:
            await answer(body, t("compose.reopen.already_yours", lang, name=name))
        elif outcome is ReopenOutcome.NEEDS_TAKEOVER:
            mention = f"<@{contact.conversation.assignee}>"
            await answer(body, t("compose.reopen.already_other", lang, name=name, agent=mention))
        else:
            await answer(body, t("compose.reopen.done", lang, name=name))
        if outcome is ReopenOutcome.REOPENED:
            await home.publish(agent)

    async def close(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang, click = str(context["lang"]), parse(BlockActions, body)

        async def open_close_modal() -> None:
            contact = await finder.get(click.action.value)
            if contact is None:
                await answer(body, t("compose.gone", lang))
                return
            waiting = await close_flow.waiting(contact.id)
            view = close_modal(
                contact, origin_of(body), settings.close_unassigns, lang, waiting=waiting
            )
            await client.views_open(trigger_id=click.trigger_id, view=view)

        background.run(open_close_modal(), on_error=answers.apology(body, lang))

    app.action(ids.THREAD_FOLLOWUP)(followup)
    app.action(ids.FOLLOWUP_ANOTHER_WAY)(followup)
    intake.on(KIND_REOPEN, reopen, answers.apology)
    app.action(ids.THREAD_REOPEN)(durable(intake, KIND_REOPEN))
    app.action(ids.THREAD_CLOSE)(close)
