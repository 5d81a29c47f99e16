"""The edit modal of a waiting follow-up: its new time and text."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.services.scheduling import ChangeResult, Scheduling, decode_request
from bot.slack import ids
from bot.slack.answers import Answers
from bot.slack.blocks.schedule import your_time
from bot.slack.home import HomeTabs
from bot.slack.i18n import t
from handlers.payloads import ViewSubmission, parse

_CHANGED = {
    ChangeResult.RUNNING: "schedule.changed.running",
    ChangeResult.MISSING: "schedule.changed.missing",
}


def register(app: AsyncApp, *, scheduling: Scheduling, answers: Answers, home: HomeTabs) -> None:
    async def submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        lang, submission = str(context["lang"]), parse(ViewSubmission, body)
        item = await scheduling.get(submission.private_metadata)
        if item is None:
            await ack(
                response_action="errors",
                errors={ids.SCHEDULE_EDIT_AT: t("schedule.changed.missing", lang)},
            )
            return
        picked = submission.element(ids.SCHEDULE_EDIT_AT, ids.SCHEDULE_EDIT_AT).get(
            "selected_date_time"
        )
        due_at = datetime.fromtimestamp(int(picked), UTC) if picked else item.due_at
        edited = submission.element(ids.SCHEDULE_EDIT_TEXT, ids.SCHEDULE_EDIT_TEXT)
        text = str(edited.get("value") or "").strip()
        if due_at is not None and due_at <= scheduling.clock():
            await ack(
                response_action="errors",
                errors={ids.SCHEDULE_EDIT_AT: t("schedule.error.past", lang)},
            )
            return
        await ack()
        request = decode_request(item) if item.sends else None
        if request is not None and text:
            content = dataclasses.replace(request.content, text=text)
            request = dataclasses.replace(request, content=content)
        done = await scheduling.reschedule(item.id, due_at, request)
        agent = submission.agent
        if done is ChangeResult.DONE and due_at is None:
            text = t("schedule.changed.saved", lang)
        elif done is ChangeResult.DONE and due_at is not None:
            text = t("schedule.changed.moved", lang, your_time=your_time(due_at))
        else:
            text = t(_CHANGED[done], lang)
        await answers.direct(agent, text, [])
        await home.publish(agent)

    app.view(ids.SCHEDULE_EDIT_VIEW)(submitted)
