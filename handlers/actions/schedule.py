"""Buttons on what waits (App Home, the thread): *Send now*, *Edit*, *Cancel*; and
on a reminder's direct message, *Snooze* (its *Follow up* and *Close* are the thread
root's own buttons)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.services.scheduling import ChangeResult, Scheduling, decode_request
from bot.slack import ids
from bot.slack.answers import Answers
from bot.slack.background import Background
from bot.slack.blocks.answers import text_answer
from bot.slack.blocks.schedule import edit_modal, your_time
from bot.slack.home import HomeTabs
from bot.slack.i18n import t
from handlers.payloads import BlockActions, parse

#: What each snooze button puts off the reminder by.
SNOOZES = {
    ids.REMIND_SNOOZE_HOUR: timedelta(hours=1),
    ids.REMIND_SNOOZE_DAY: timedelta(days=1),
    ids.REMIND_SNOOZE_DAYS: timedelta(days=2),
}
_CHANGED = {
    ChangeResult.RUNNING: "schedule.changed.running",
    ChangeResult.MISSING: "schedule.changed.missing",
}


def register(
    app: AsyncApp,
    *,
    scheduling: Scheduling,
    answers: Answers,
    home: HomeTabs,
    background: Background,
    client: AsyncWebClient,
) -> None:
    async def tell(body: dict[str, Any], text: str) -> None:
        click = parse(BlockActions, body)
        if click.from_home:
            await home.publish(click.agent)  # the list shows what happened
        await answers.to(body)(*text_answer(text))

    def changed(done: ChangeResult, lang: str, ok_key: str) -> str:
        return t(_CHANGED.get(done, ok_key), lang)

    async def cancel(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang, click = str(context["lang"]), parse(BlockActions, body)

        async def work() -> None:
            done = await scheduling.cancel(click.action.value)
            await tell(body, changed(done, lang, "schedule.changed.cancelled"))

        background.run(work(), on_error=answers.apology(body, lang))

    async def send_now(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang, click = str(context["lang"]), parse(BlockActions, body)

        async def work() -> None:
            done = await scheduling.send_now(click.action.value)
            await tell(body, changed(done, lang, "schedule.changed.sent_now"))

        background.run(work(), on_error=answers.apology(body, lang))

    async def edit(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang, click = str(context["lang"]), parse(BlockActions, body)

        async def work() -> None:
            item = await scheduling.get(click.action.value)
            if item is None:
                await tell(body, t("schedule.changed.missing", lang))
                return
            text = decode_request(item).content.text if item.sends else ""
            view = edit_modal(item, text, lang)
            await client.views_open(trigger_id=click.trigger_id, view=view)

        background.run(work(), on_error=answers.apology(body, lang))

    async def snooze(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang = str(context["lang"])
        click = parse(BlockActions, body)
        contact_id = click.action.value.split("|", 1)[0]
        after = SNOOZES[click.action.action_id]

        async def work() -> None:
            done = await scheduling.remind(contact_id, click.agent, after)
            if done.item is None or done.item.due_at is None:
                await tell(body, t("schedule.changed.missing", lang))
                return
            text = t("schedule.remind.snoozed", lang, your_time=your_time(done.item.due_at))
            await answers.to(body, replace=True)(*text_answer(text))

        background.run(work(), on_error=answers.apology(body, lang))

    app.action(ids.SCHEDULE_CANCEL)(cancel)
    app.action(ids.SCHEDULE_SEND_NOW)(send_now)
    app.action(ids.SCHEDULE_EDIT)(edit)
    for snooze_id in ids.REMIND_SNOOZES:
        app.action(snooze_id)(snooze)
