"""The follow-up flow's Slack calls, shared by its listeners.

Opening the compose modal where the agent is (`views.open` from a message or
App Home, `views.push` from inside a modal), redrawing it as the agent
chooses (`views.update` with the view's `hash`, so a stale redraw never
overwrites a newer one), sending a one-line follow-up and answering, and
telling the agent how a submission went (ephemeral where they started, else
a direct message: `bot.slack.answers`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.channels import Channel
from bot.domain.clock import Clock
from bot.domain.models import Contact
from bot.services.compose import ComposeService
from bot.services.compose_plan import AttachedFile, ComposePlan, Draft
from bot.slack.answers import Reply
from bot.slack.blocks.answers import line_answer
from bot.slack.blocks.compose_context import ComposeContext
from bot.slack.blocks.compose_modal import compose_modal
from bot.slack.compose_form import read_compose
from bot.slack.origin import Origin
from bot.slack.web_calls import slack_error

logger = logging.getLogger(__name__)


class ComposeFlow:
    def __init__(self, service: ComposeService, client: AsyncWebClient, clock: Clock) -> None:
        self.service = service
        self.client = client
        self.clock = clock

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
        files: tuple[AttachedFile, ...] = (),
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
        context = ComposeContext(contact_id, origin, files=files)
        view = compose_modal(plan, context, self.clock(), lang)
        client = self.client
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
        new = compose_modal(plan, context, self.clock(), lang)
        try:
            await self.client.views_update(view_id=str(view["id"]), hash=view.get("hash"), view=new)
        except SlackApiError as error:
            if slack_error(error) != "hash_conflict":
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
        deliver: Reply,
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
