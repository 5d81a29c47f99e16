"""`/followup <contact> [message]`.

Without a message: the compose modal (opened right after the ack: a
trigger_id lives 3 seconds). With one (the mobile fast path): sent at once
where the window allows free text, else recorded with ❗ and answered with
what would work. An ambiguous contact gets a list to choose from; an unknown
one says so.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject

from bot.domain.clock import Clock
from bot.domain.when import WhenError, take_schedule_flags
from bot.services.directory import Directory
from bot.services.finding import ContactFinder
from bot.services.people import People
from bot.services.scheduling import Scheduling
from bot.slack import ids
from bot.slack.answers import Answers, OnError, sorry_text
from bot.slack.blocks.answers import carries_in_choice, text_answer
from bot.slack.blocks.contact_blocks import choices_message, views_of
from bot.slack.blocks.schedule import line_schedule_answer
from bot.slack.compose_flow import ComposeFlow
from bot.slack.i18n import t
from bot.slack.intake import SlackIntake
from bot.slack.origin import Origin
from bot.slack.render import escape
from handlers.payloads import SlashCommand, parse

#: The intake kind of a `/followup` with text (bot.slack.intake).
KIND = "command.followup"


def register(
    app: AsyncApp,
    *,
    directory: Directory,
    finder: ContactFinder,
    flow: ComposeFlow,
    intake: SlackIntake,
    answers: Answers,
    clock: Clock,
    scheduling: Scheduling,
    people: People,
) -> None:
    async def followup(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        lang = str(context["lang"])
        if not parse(SlashCommand, body).text.strip():
            await ack(response_type="ephemeral", text=t("compose.usage", lang))
            return
        await intake.submit(KIND, body, lang)  # stored before the ack
        await ack()

    async def work(body: dict[str, Any], lang: str) -> None:
        command = parse(SlashCommand, body)
        text, agent, trigger = command.text, command.agent, command.trigger_id
        origin = Origin(command.channel_id)
        deliver = answers.to(body)
        try:
            flags, text = take_schedule_flags(text)
        except WhenError as error:
            await deliver(*text_answer(t(error.key, lang, **error.params)))
            return

        lookup, message = await directory.split(text)
        query = text.strip()
        if message:
            query = query[: len(query) - len(message)].strip()
        if lookup.error is not None:
            await deliver(*text_answer(t(lookup.error.key, lang, **lookup.error.params)))
        elif lookup.ambiguous:
            carried = message if carries_in_choice(message) else ""
            answer, blocks = choices_message(
                query,
                views_of(lookup.choices, await finder.decided(lookup.choices)),
                more=lookup.more,
                action_id=ids.CONTACT_CHOOSE_FOLLOWUP,
                now=clock(),
                lang=lang,
                message=carried,
            )
            if message and not carried:
                note = t("compose.line.choose_then_write", lang)
                blocks.append(ContextBlock(elements=[MarkdownTextObject(text=note)]))
            await deliver(answer, blocks)
        elif lookup.contact is None:
            await deliver(*text_answer(t("lookup.not_found", lang, query=escape(query))))
        elif flags.any:
            if message and flags.at is None and not flags.when_they_write:
                # "--remind 2d <message>": the message goes now, the reminder waits.
                contact = lookup.contact
                await flow.send_line(contact, agent, message, trigger, lang, deliver, rerun=True)
            scheduled = await scheduling.schedule_line(
                lookup.contact,
                agent,
                message,
                flags,
                trigger,
                agent_zone=await people.zone(agent),
            )
            await deliver(*line_schedule_answer(scheduled, lang))
        elif not message and command.rerun:
            # Worked again after a crash: the trigger (3 s) to open the modal is gone.
            name = escape(lookup.contact.display_name)
            await deliver(*text_answer(t("compose.late", lang, name=name)))
        elif not message:
            opened = await flow.open(
                contact_id=lookup.contact.id,
                contact=lookup.contact,
                agent=agent,
                lang=lang,
                trigger_id=trigger,
                origin=origin,
            )
            if not opened:
                await deliver(*text_answer(t("compose.gone", lang)))
        else:
            # Its key is its own trigger, taken once (bot.slack.intake): found done,
            # it is this very request (a rerun, or a commit whose answer Redis lost
            # and redis-py sent again), answered as sent, not as a repeat.
            await flow.send_line(lookup.contact, agent, message, trigger, lang, deliver, rerun=True)

    def on_error(body: dict[str, Any], lang: str) -> OnError:
        reply = answers.to(body)

        async def sorry(error: BaseException) -> None:
            await reply(*text_answer(sorry_text(lang, error)))

        return sorry

    intake.on(KIND, work, on_error)
    app.command(ids.FOLLOWUP)(followup)
