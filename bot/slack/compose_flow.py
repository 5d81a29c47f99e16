"""The follow-up flow's Slack calls, shared by its listeners.

Opening the compose modal where the agent is (`views.open` from a message or
App Home, `views.push` from inside a modal), redrawing it as the agent
chooses (`views.update` with the view's `hash`, so a stale redraw never
overwrites a newer one), sending a one-line follow-up and answering, and
telling the agent how a submission went (ephemeral where they started, else
a direct message).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block

from bot.channels.line import LineConnector
from bot.domain.channels import Channel
from bot.domain.models import Contact
from bot.services.compose import ComposePlan, ComposeService, Draft
from bot.services.line_quota import LineQuotaReader
from bot.slack.app import SlackDeps, apologise
from bot.slack.compose import (
    ComposeContext,
    Origin,
    compose_modal,
    line_answer,
    read_compose,
)

logger = logging.getLogger(__name__)

Deliver = Callable[[str, Sequence[Block]], Awaitable[None]]

#: `chat.postEphemeral` errors that mean "not there": answer by direct message.
NOT_THERE = frozenset({"channel_not_found", "not_in_channel", "user_not_in_channel"})


def origin_of(body: Mapping[str, Any]) -> Origin:
    """Where an interaction happened: its channel and thread, if any.

    A click in App Home or in a modal has no channel to answer in (a direct
    message it is).
    """
    if (body.get("container") or {}).get("type") == "view":
        return Origin()
    channel = body.get("channel")
    channel_id = channel.get("id") if isinstance(channel, dict) else body.get("channel_id")
    container = body.get("container") or {}
    message = body.get("message") or {}
    thread = container.get("thread_ts") or message.get("thread_ts") or ""
    return Origin(str(channel_id or ""), str(thread))


def line_quota_reader(deps: SlackDeps) -> LineQuotaReader | None:
    """LINE's monthly quota for the composer, where LINE is set up."""
    if not LineConnector.configured(deps.settings):
        return None
    line = LineConnector(deps.settings, deps.http, timeout=3.0)
    return LineQuotaReader(deps.redis, deps.keys, deps.outbox, line.quota)


class ComposeFlow:
    def __init__(self, deps: SlackDeps) -> None:
        self.deps = deps
        self.service = ComposeService(
            deps.contacts, deps.followups, deps.templates, line_quota=line_quota_reader(deps)
        )

    async def open(
        self,
        *,
        contact_id: str,
        agent: str,
        lang: str,
        trigger_id: str,
        origin: Origin,
        draft: Draft | None = None,
        from_view: Mapping[str, Any] | None = None,
        contact: Contact | None = None,
    ) -> bool:
        """Open the compose modal for a contact (False when the contact is gone).

        `contact` is the contact as this request has just read it (a lookup),
        so it is not read again. From inside a modal the composer is pushed on
        top; from a modal that is itself pushed it replaces it, so the stack
        never passes three.
        """
        if contact is not None and contact.id == contact_id:
            plan: ComposePlan | None = await self.service.plan_contact(
                contact, agent, draft or Draft()
            )
        else:
            plan = await self.service.plan(contact_id, agent, draft or Draft())
        if plan is None:
            return False
        view = compose_modal(plan, ComposeContext(contact_id, origin), self.deps.clock(), lang)
        client = self.deps.client
        if from_view is not None and from_view.get("type") == "modal":
            if from_view.get("previous_view_id"):
                await client.views_update(
                    view_id=str(from_view["id"]), hash=from_view.get("hash"), view=view
                )
            else:
                await client.views_push(trigger_id=trigger_id, view=view)
        else:
            await client.views_open(trigger_id=trigger_id, view=view)
        return True

    async def redraw(
        self, view: Mapping[str, Any], agent: str, lang: str, action: Mapping[str, Any] | None
    ) -> None:
        """The modal again, adapted to what the agent just chose."""
        context, draft = read_compose(view, action)
        plan = await self.service.plan(context.contact_id, agent, draft)
        if plan is None:
            return
        new = compose_modal(plan, context, self.deps.clock(), lang)
        try:
            await self.deps.client.views_update(
                view_id=str(view["id"]), hash=view.get("hash"), view=new
            )
        except SlackApiError as error:
            if error.response.get("error") != "hash_conflict":
                raise
            # A newer redraw won; the agent's latest choice brings its own.
            logger.info("compose modal changed meanwhile; redraw skipped")

    async def send_line(
        self,
        contact: Contact,
        agent: str,
        message: str,
        key: str,
        lang: str,
        deliver: Deliver,
        *,
        channel: Channel | None = None,
        takeover: bool = False,
        rerun: bool = False,
    ) -> None:
        """A one-line follow-up, and the answer (confirmation, refusal, or a question).

        `rerun`: the same submission worked again (bot.slack.intake)."""
        line = await self.service.send_line(
            contact, agent, message, key, channel=channel, confirm_takeover=takeover
        )
        text, blocks = line_answer(line, message.strip(), key, lang, rerun=rerun)
        await deliver(text, blocks)

    async def tell(self, agent: str, origin: Origin, text: str, blocks: Sequence[Block]) -> None:
        """An ephemeral note where the agent started (in its thread), else a DM."""
        payload = [b.to_dict() for b in blocks]
        if origin.channel:
            try:
                await self.deps.client.chat_postEphemeral(
                    channel=origin.channel,
                    user=agent,
                    text=text,
                    blocks=payload,
                    thread_ts=origin.thread_ts or None,
                )
                return
            except SlackApiError as error:
                if error.response.get("error") not in NOT_THERE:
                    raise
        await self.deps.client.chat_postMessage(channel=agent, text=text, blocks=payload)

    def apology(
        self, body: Mapping[str, Any], lang: str
    ) -> Callable[[BaseException], Awaitable[None]]:
        """For `Background.run(on_error=)`: a short apology through the click's response_url."""

        async def apology(error: BaseException) -> None:
            url = body.get("response_url")
            if isinstance(url, str):
                await apologise(self.deps, url, lang, error)

        return apology
