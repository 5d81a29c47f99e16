"""`/reopen <contact>`: reopen a conversation and assign it to the agent.

Acknowledged at once (an empty line gets the usage in the ack); the contact is
looked up after: one match is reopened and answered with its card, several
are offered to choose from, none is said so. Another agent's open
conversation asks for confirmation first (the *Take over* button).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.models.blocks import Block

from bot.services.reopen import ReopenOutcome, ReopenService
from bot.slack import ids
from bot.slack.app import SlackDeps, respond, sorry_text
from bot.slack.contact_blocks import choices_message, text_message
from bot.slack.home import publish_home
from bot.slack.i18n import t
from bot.slack.render import escape
from bot.slack.reopen_blocks import reopen_card, takeover_question
from bot.store.contacts import ContactNotFound

#: Shows an answer where the agent is: (text, blocks, replace the clicked message).
Deliver = Callable[[str, Sequence[Block], bool], Awaitable[None]]


def deliverer(deps: SlackDeps, body: dict[str, Any]) -> Deliver:
    """Answer through the payload's `response_url`, or (App Home has none) by direct message."""
    url = body.get("response_url")
    user = str(body.get("user_id") or body["user"]["id"])

    async def deliver(text: str, blocks: Sequence[Block], replace: bool) -> None:
        if isinstance(url, str):
            await respond(deps, url, text, blocks, replace_original=replace)
        else:
            await deps.client.chat_postMessage(channel=user, text=text, blocks=list(blocks))

    return deliver


def reopen_service(deps: SlackDeps) -> ReopenService:
    return ReopenService(deps.conversations, deps.contacts, deps.outbox, deps.followups)


async def reopen_and_answer(
    deps: SlackDeps,
    contact_id: str,
    agent: str,
    lang: str,
    deliver: Deliver,
    *,
    confirm_takeover: bool = False,
    replace: bool = False,
    quiet_success: bool = False,
) -> None:
    """Reopen for `agent` and answer with the card (or the takeover question).

    `quiet_success`: from App Home, whose refresh shows the result, only a
    question or a problem is sent.
    """
    try:
        result = await reopen_service(deps).reopen(
            contact_id, agent, confirm_takeover=confirm_takeover
        )
    except ContactNotFound:
        text, blocks = text_message(t("reopen.gone", lang))
        await deliver(text, blocks, replace)
        return
    if result.outcome is ReopenOutcome.NEEDS_TAKEOVER:
        text, blocks = takeover_question(result, lang)
        await deliver(text, blocks, replace)
        return
    if not quiet_success:
        text, blocks = reopen_card(result, deps.clock(), lang)
        await deliver(text, blocks, replace)
    if result.outcome is not ReopenOutcome.ALREADY_YOURS:
        deps.background.run(publish_home(deps, agent))
        previous = result.previous_assignee
        if result.outcome is ReopenOutcome.TAKEN_OVER and previous:
            deps.background.run(publish_home(deps, previous))


async def lookup_and_reopen(
    deps: SlackDeps, query: str, agent: str, lang: str, deliver: Deliver
) -> None:
    """`<contact>` names one contact (reopen it), several (choose) or none (say so)."""
    lookup = await deps.directory.lookup(query)
    if lookup.error is not None:
        text, blocks = text_message(t(lookup.error.key, lang, **lookup.error.params))
    elif lookup.contact is not None:
        await reopen_and_answer(deps, lookup.contact.id, agent, lang, deliver)
        return
    elif lookup.choices:
        text, blocks = choices_message(
            query,
            await deps.views_of(lookup.choices),
            more=lookup.more,
            action_id=ids.CONTACT_CHOOSE_REOPEN,
            now=deps.clock(),
            lang=lang,
        )
    else:
        text, blocks = text_message(t("lookup.not_found", lang, query=escape(query)))
    await deliver(text, blocks, False)


#: The intake kind of a `/reopen` with a contact (bot.slack.intake).
KIND = "command.reopen"


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def reopen(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        lang = str(context["lang"])
        query = str(body.get("text") or "").strip()
        if not query:
            await ack(response_type="ephemeral", text=t("reopen.usage", lang))
            return
        await deps.intake.submit(KIND, body, lang)  # stored before the ack
        await ack()

    async def work(body: dict[str, Any], lang: str) -> None:
        query = str(body.get("text") or "").strip()
        await lookup_and_reopen(deps, query, str(body["user_id"]), lang, deliverer(deps, body))

    deps.intake.on(KIND, work, lambda body, lang: apology(deliverer(deps, body), lang))
    app.command(ids.REOPEN)(reopen)


def apology(deliver: Deliver, lang: str) -> Callable[[BaseException], Awaitable[None]]:
    """Tells the agent, where `deliver` answers, that something went wrong."""

    async def sorry(error: BaseException) -> None:
        text, blocks = text_message(sorry_text(lang, error))
        await deliver(text, blocks, False)

    return sorry
