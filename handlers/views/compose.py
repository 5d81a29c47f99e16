"""The compose modal's submission.

Checked at once, so bad input comes back as field errors in the ack (empty
text, text over the channel's limit, a template parameter left out, a
takeover not confirmed, or a window that closed since the modal opened).
Then the follow-up is queued under the view's id as idempotency key (a
double click or a retried submission queues once), the modal closes, and the
agent is told how it went where they started (or by direct message).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.domain.models import ConversationStatus
from bot.domain.windows import Form, SendMode
from bot.services.compose_checks import request_for, validate
from bot.services.followup import FollowupOutcome
from bot.services.scheduling import Scheduling, item_id_for
from bot.slack import ids
from bot.slack.answers import Answers, OnError, sorry_text
from bot.slack.attachments import AttachmentRefused, SlackAttachments
from bot.slack.blocks.answers import (
    duplicate_message,
    refused_message,
    sent_message,
    taken_meanwhile_message,
    text_answer,
    unreachable_answer,
)
from bot.slack.blocks.compose_context import BLOCK_TEMPLATE, BLOCK_TEXT
from bot.slack.blocks.compose_modal import field_errors
from bot.slack.blocks.compose_when import BLOCK_WHEN_AT
from bot.slack.blocks.parts import context_block
from bot.slack.blocks.schedule import line_schedule_answer, your_time
from bot.slack.compose_flow import ComposeFlow
from bot.slack.compose_form import read_compose
from bot.slack.home import HomeTabs
from bot.slack.i18n import t
from bot.slack.intake import SlackIntake
from bot.slack.render import escape, reason_text
from handlers.payloads import ViewSubmission, parse

#: The intake kind (bot.slack.intake) of the compose modal's submission.
KIND = "view.compose"


def register(
    app: AsyncApp,
    *,
    flow: ComposeFlow,
    home: HomeTabs,
    intake: SlackIntake,
    answers: Answers,
    scheduling: Scheduling,
    attachments: SlackAttachments,
) -> None:
    async def submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        lang, submission = str(context["lang"]), parse(ViewSubmission, body)
        compose, draft = read_compose(submission.view)
        plan = await flow.service.plan(compose.contact_id, submission.agent, draft)
        if plan is None:
            block = BLOCK_TEMPLATE if compose.form is Form.TEMPLATE else BLOCK_TEXT
            await ack(response_action="errors", errors={block: t("compose.gone", lang)})
            return
        # A modal that offered only "send when they write" was rendered without a form.
        waiting = plan.may_wait and compose.form is None
        problems = validate(plan, draft, waiting=waiting)
        if problems:
            await ack(response_action="errors", errors=field_errors(problems, draft, lang))
            return
        if draft.send_at is not None and not waiting:
            # For later: the window as it will be then decides.
            request = request_for(plan, draft, submission.view_id)
            refusal = await scheduling.check_at(request, draft.send_at)
            if refusal is not None:
                words = reason_text(refusal, lang)
                await ack(response_action="errors", errors={BLOCK_WHEN_AT: words})
                return
        await intake.submit(KIND, body, lang)  # stored before the ack
        await ack()

    async def send(body: dict[str, Any], lang: str) -> None:
        submission = parse(ViewSubmission, body)
        agent = submission.agent
        compose, draft = read_compose(submission.view)
        # Planned again (the ack checked it a moment ago; an adopted submission
        # may be older): the send itself decides against the window as it is now.
        plan = await flow.service.plan(compose.contact_id, agent, draft)
        if plan is None:
            await answers.where_started(agent, compose.origin)(
                *text_answer(t("compose.gone", lang))
            )
            return
        if draft.files and draft.channel is not None:
            # Checked against the channel, then fetched from Slack into the media store.
            try:
                stored = await attachments.fetch(draft.files, draft.channel)
            except AttachmentRefused as refused:
                reason = t(refused.key, lang, **refused.params)
                await answers.where_started(agent, compose.origin)(
                    *text_answer(t("compose.files.refused", lang, reason=reason))
                )
                return
            draft = replace(draft, attachments=stored)
        waiting = plan.may_wait and compose.form is None
        if waiting or draft.send_at is not None:
            request = request_for(plan, draft, submission.view_id)
            send_at = None if waiting else draft.send_at
            scheduled = await scheduling.schedule_request(
                plan.contact, request, send_at, submission.view_id, draft.remind_after
            )
            await answers.where_started(agent, compose.origin)(
                *line_schedule_answer(scheduled, lang)
            )
            await home.publish(agent)
            return
        result = await flow.service.send(plan, draft, submission.view_id)
        contact = result.contact or plan.contact
        channel = draft.channel
        assert channel is not None
        if result.outcome is FollowupOutcome.ACCEPTED or (
            # Worked again (bot.slack.intake) and found done: answered as sent.
            result.outcome is FollowupOutcome.DUPLICATE and submission.rerun
        ):
            before = contact.conversation
            template = plan.template_named(draft.template)
            text, blocks = sent_message(
                contact,
                channel,
                result.mode,
                lang,
                tag=draft.tag if result.mode is SendMode.MESSAGE_TAG else None,
                template=template.name if template else None,
                reopened=before.status is ConversationStatus.CLOSED,
                taken_from=before.assignee if before.assignee != agent else None,
            )
        elif result.outcome is FollowupOutcome.DUPLICATE:
            text, blocks = duplicate_message(contact, channel, lang)
        elif result.outcome is FollowupOutcome.NEEDS_TAKEOVER:
            text, blocks = taken_meanwhile_message(contact, result.previous_assignee, lang)
        elif result.unreachable is not None:
            text, blocks = unreachable_answer(
                contact, channel, result.unreachable, result.instead, lang
            )
        else:
            words = reason_text(result.reason, lang) if result.reason else ""
            text, blocks = refused_message(contact, result.decision, words, lang, channel)
        if result.outcome is FollowupOutcome.ACCEPTED and draft.remind_after is not None:
            reminder = await scheduling.remind(
                plan.contact.id,
                agent,
                draft.remind_after,
                item_id=item_id_for(plan.contact.id, submission.view_id + ":r"),
            )
            if reminder.item is not None and reminder.item.due_at is not None:
                name = escape(contact.display_name)
                due = your_time(reminder.item.due_at)
                blocks = [
                    *blocks,
                    context_block(t("schedule.answer.reminder", lang, your_time=due, name=name)),
                ]
        await answers.where_started(agent, compose.origin)(text, blocks)
        if result.outcome is FollowupOutcome.ACCEPTED:
            await home.publish(agent)  # the conversation is now open and theirs

    def on_error(body: dict[str, Any], lang: str) -> OnError:
        async def sorry(error: BaseException) -> None:
            submission = parse(ViewSubmission, body)
            compose, _draft = read_compose(submission.view)
            reply = answers.where_started(submission.agent, compose.origin)
            await reply(*text_answer(sorry_text(lang, error)))

        return sorry

    intake.on(KIND, send, on_error)
    app.view(ids.COMPOSE_VIEW)(submitted)
