"""The composer's use case: plan a contact's composer, send what was composed,
and the one-line `/followup <contact> <message>` (`ComposeService.send_line`).

The plan is `bot.services.compose_plan`, the checks and the request
`bot.services.compose_checks`. Slack-free.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from bot.domain.channels import Channel
from bot.domain.messages import Content
from bot.domain.models import Contact, ConversationStatus
from bot.domain.reachability import LineQuota, Unreachable
from bot.domain.windows import (
    VIBER_QUOTA_EXHAUSTED,
    Form,
    Reason,
    SendMode,
    has_templates,
)
from bot.services.compose_checks import FieldProblem, request_for, text_problem
from bot.services.compose_plan import (
    EMPTY_DRAFT,
    ComposePlan,
    Draft,
    channel_options,
    line_channel,
    offered_templates,
    plan_for,
)
from bot.services.followup import (
    LINE_MONTH_SPENT,
    FollowupOutcome,
    FollowupRequest,
    FollowupResult,
    FollowupService,
)
from bot.store.contacts import ContactStore
from bot.store.templates import TemplateStore, WhatsAppTemplate


class LineOutcome(StrEnum):
    """What became of a one-line follow-up."""

    SENT = "sent"  # accepted and queued
    DUPLICATE = "duplicate"  # the same request was accepted before
    REFUSED = "refused"  # the window refuses free text: recorded with ❗
    QUOTA = "quota"  # Viber's free quota is used up: refused, not recorded (SPEC)
    UNREACHABLE = "unreachable"  # the customer cannot be reached there: refused, not recorded
    NEEDS_TAKEOVER = "needs_takeover"  # assigned to another agent: confirm first
    TOO_LONG = "too_long"  # over the channel's limit: nothing recorded
    NO_CHANNEL = "no_channel"  # the contact has no channel at all


@dataclass(frozen=True)
class LineResult:
    outcome: LineOutcome
    contact: Contact
    channel: Channel | None = None
    mode: SendMode = SendMode.REFUSED
    reason: Reason | None = None  # the window's reason (sent or refused)
    problem: FieldProblem | None = None  # TOO_LONG
    previous_assignee: str | None = None  # taken over from (SENT) / assigned to (NEEDS_TAKEOVER)
    reopened: bool = False  # SENT on a closed conversation (now open and the sender's)
    template_possible: bool = False  # an approved template may go on `channel` now
    composer_useful: bool = False  # some channel allows some form: the composer helps
    unreachable: Unreachable | None = None  # UNREACHABLE: why and since when
    instead: tuple[Channel, ...] = ()  # UNREACHABLE: the contact's channels that would go now


class ComposeService:
    def __init__(
        self,
        contacts: ContactStore,
        followups: FollowupService,
        templates: TemplateStore,
        *,
        line_quota: Callable[[], Awaitable[LineQuota | None]] | None = None,
    ) -> None:
        self.contacts = contacts
        self.followups = followups
        self.templates = templates
        self.line_quota = line_quota

    async def _templates_for(self, contact: Contact) -> list[WhatsAppTemplate]:
        if not any(has_templates(channel) for channel in contact.identities):
            return []
        return await self.templates.all()

    async def plan(
        self, contact_id: str, agent: str, draft: Draft = EMPTY_DRAFT
    ) -> ComposePlan | None:
        """The composer for a contact (None when the contact no longer exists)."""
        contact = await self.contacts.get(contact_id)
        if contact is None:
            return None
        return await self.plan_contact(contact, agent, draft)

    async def plan_contact(
        self, contact: Contact, agent: str, draft: Draft = EMPTY_DRAFT
    ) -> ComposePlan:
        decisions = await self.followups.decisions_for(contact)
        plan = plan_for(contact, agent, decisions, await self._templates_for(contact), draft)
        if plan.draft.channel is Channel.LINE and self.line_quota is not None:
            plan = replace(plan, line_quota=await self.line_quota())
        return plan

    async def send(self, plan: ComposePlan, submitted: Draft, key: str) -> FollowupResult:
        """Queue a validated composition (idempotent on `key`: the modal's view id)."""
        return await self.followups.send(request_for(plan, submitted, key))

    async def send_line(
        self,
        contact: Contact,
        agent: str,
        text: str,
        key: str,
        *,
        channel: Channel | None = None,
        confirm_takeover: bool = False,
    ) -> LineResult:
        """`/followup <contact> <message>`: free text at once where the window allows it.

        Where it does not, the attempt is recorded with ❗ in the thread (not
        relayed; SPEC "Channel window rules"), except a Viber quota refusal,
        and the result says what would work instead. (No other channel takes
        free text then: `line_channel` would have picked it.)
        """
        decisions = await self.followups.decisions_for(contact)
        if channel is None or channel not in contact.identities:
            channel = line_channel(contact, decisions)
        if channel is None:
            return LineResult(LineOutcome.NO_CHANNEL, contact)
        problem = text_problem(channel, text)
        if problem is not None:
            return LineResult(LineOutcome.TOO_LONG, contact, channel, problem=problem)
        request = FollowupRequest(
            contact_id=contact.id,
            channel=channel,
            sender=agent,
            idempotency_key=key,
            form=Form.TEXT,
            content=Content(text=text.strip()),
            confirm_takeover=confirm_takeover,
        )
        result = await self.followups.send(request)
        before = result.contact or contact
        if result.outcome is FollowupOutcome.ACCEPTED:
            conv = before.conversation
            return LineResult(
                LineOutcome.SENT,
                before,
                channel,
                mode=result.mode,
                reason=result.reason,
                previous_assignee=conv.assignee if conv.assignee != agent else None,
                reopened=conv.status is ConversationStatus.CLOSED,
            )
        if result.outcome is FollowupOutcome.DUPLICATE:
            return LineResult(LineOutcome.DUPLICATE, before, channel, mode=result.mode)
        if result.outcome is FollowupOutcome.NEEDS_TAKEOVER:
            return LineResult(
                LineOutcome.NEEDS_TAKEOVER,
                before,
                channel,
                previous_assignee=result.previous_assignee,
            )
        reason = result.reason
        quota = reason is not None and reason.key in (VIBER_QUOTA_EXHAUSTED, LINE_MONTH_SPENT)
        # An unreachable customer or a spent quota is no window refusal: no ❗ recorded.
        if not quota and result.unreachable is None:
            await self.followups.record_refused(request, result)
        templates = offered_templates(before, await self._templates_for(before))
        options = channel_options(before, decisions, templates)
        here = next((o for o in options if o.channel == channel), None)
        outcome = LineOutcome.QUOTA if quota else LineOutcome.REFUSED
        if result.unreachable is not None:
            outcome = LineOutcome.UNREACHABLE
        return LineResult(
            outcome,
            before,
            channel,
            reason=reason,
            template_possible=here is not None and Form.TEMPLATE in here.forms,
            composer_useful=any(o.open for o in options),
            unreachable=result.unreachable,
            instead=result.instead,
        )
