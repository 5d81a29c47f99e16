"""*Remind me* on a thread's root: the modal, and its submission."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.services.finding import ContactFinder
from bot.services.scheduling import Scheduling
from bot.slack import ids
from bot.slack.answers import Answers
from bot.slack.background import Background
from bot.slack.blocks.answers import text_answer
from bot.slack.blocks.schedule import REMIND_CHOICES, remind_modal, your_time
from bot.slack.i18n import t
from bot.slack.render import escape
from handlers.payloads import BlockActions, ViewSubmission, parse


def register(
    app: AsyncApp,
    *,
    scheduling: Scheduling,
    finder: ContactFinder,
    answers: Answers,
    background: Background,
    client: AsyncWebClient,
) -> None:
    async def open_modal(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang, click = str(context["lang"]), parse(BlockActions, body)

        async def work() -> None:
            contact = await finder.get(click.action.value)
            if contact is None:
                await answers.to(body)(*text_answer(t("compose.gone", lang)))
                return
            await client.views_open(trigger_id=click.trigger_id, view=remind_modal(contact, lang))

        background.run(work(), on_error=answers.apology(body, lang))

    async def submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        lang, submission = str(context["lang"]), parse(ViewSubmission, body)
        picked = submission.element(ids.REMIND_AFTER, ids.REMIND_AFTER).get("selected_option")
        choice = picked.get("value") if isinstance(picked, dict) else None
        hours = dict(REMIND_CHOICES).get(str(choice))
        if hours is None:
            await ack(
                response_action="errors",
                errors={ids.REMIND_AFTER: t("schedule.compose.error.pick", lang)},
            )
            return
        await ack()
        agent, contact_id = submission.agent, submission.private_metadata
        note = str(submission.element(ids.REMIND_NOTE, ids.REMIND_NOTE).get("value") or "").strip()
        done = await scheduling.remind(contact_id, agent, timedelta(hours=hours), note)
        if done.item is None or done.item.due_at is None:
            await answers.direct(agent, *text_answer(t("schedule.changed.missing", lang)))
            return
        contact = await finder.get(contact_id)
        name = escape(contact.display_name) if contact is not None else contact_id
        text = t("schedule.answer.reminder", lang, your_time=your_time(done.item.due_at), name=name)
        await answers.direct(agent, *text_answer(text))

    app.action(ids.THREAD_REMIND)(open_modal)
    app.view(ids.REMIND_VIEW)(submitted)
