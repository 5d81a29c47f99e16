"""The composer: what an agent may send a contact now, where, in which form, and
whether what they composed can go. Slack-free.

The policy (`bot.domain.windows`) decides each channel's window; this module
turns those decisions into the choices a composer offers (free text, an
approved WhatsApp template, a Messenger message tag), picks sensible defaults
(the channel the customer wrote on last where anything may go, in the form it
allows), and checks a
composition before it is queued: empty text, text over the channel's limit
(`bot.domain.limits`), a template parameter left out, a takeover not
confirmed. The one-line `/followup <contact> <message>` goes through
`ComposeService.send_line`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.channels import Channel
from bot.domain.limits import TextLimit, Unit, text_limit
from bot.domain.messages import Content, TemplateUse
from bot.domain.models import Contact, ConversationStatus
from bot.domain.reachability import LineQuota, Unreachable
from bot.domain.templates import (
    BAD_FORMAT,
    MISSING,
    FilledParameter,
    InputKind,
    TemplateInput,
    TemplatePreview,
    ValueProblem,
    check,
    fill,
    needs,
)
from bot.domain.templates import preview as template_preview
from bot.domain.windows import (
    VIBER_QUOTA_EXHAUSTED,
    Decision,
    Form,
    Reason,
    SendMode,
    has_templates,
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

__all__ = [
    "ChannelOption",
    "ComposePlan",
    "ComposeService",
    "Draft",
    "Field",
    "FieldProblem",
    "LineOutcome",
    "LineResult",
    "default_channel",
    "forms_for",
    "line_channel",
    "plan_for",
    "request_for",
    "template_components",
    "text_problem",
    "unavailable_templates",
    "validate",
]

# Catalogue keys of the composer's own problems (the policy's reasons come from
# `bot.domain.windows`).
NO_TEMPLATES = "compose.no_templates"
EMPTY_TEXT = "compose.error.empty"
TOO_LONG = "compose.error.too_long"
TOO_LONG_BYTES = "compose.error.too_long_bytes"
PICK_TEMPLATE = "compose.error.pick_template"
PICK_TAG = "compose.error.pick_tag"
MISSING_PARAM = "compose.error.missing_param"
PARAM_FORMAT = "compose.error.param_format"
CONFIRM_TAKEOVER = "compose.error.takeover"
CHANNEL_GONE = "compose.error.channel_gone"

#: A template offered in the picker must fit Slack: its "name:language" is an
#: option value (150 characters at most), and one input per value it needs
#: (`bot.domain.templates.needs`) must fit in a modal (100 blocks) beside the
#: rest of the composer.
MAX_TEMPLATE_FIELD = 150
MAX_TEMPLATE_PARAMS = 60


class Field(StrEnum):
    """The part of a composition a problem is about."""

    FORM = "form"  # what was chosen may not be sent (now) at all
    TEXT = "text"
    TEMPLATE = "template"
    PARAM = "param"
    TAG = "tag"
    TAKEOVER = "takeover"


@dataclass(frozen=True)
class FieldProblem:
    """Why a composition cannot go, as a catalogue key and its parameters."""

    field: Field
    key: str
    params: Mapping[str, str | int] = dataclass_field(default_factory=dict)
    index: int = 0  # the template input (1-based, in `needs` order) for Field.PARAM


@dataclass(frozen=True)
class Draft:
    """What the agent has chosen and typed so far (all of it optional)."""

    channel: Channel | None = None
    form: Form | None = None
    template: str | None = None  # "name:language" (WhatsAppTemplate.field)
    tag: str | None = None
    text: str = ""
    #: The chosen template's values, one per input it needs (`needs` order).
    params: tuple[str, ...] = ()
    takeover: bool = False  # "take over from the current assignee" ticked
    #: Follow-ups in time: when it goes (None: now), and "remind me if no reply in".
    send_at: datetime | None = None
    remind_after: timedelta | None = None


@dataclass(frozen=True)
class ChannelOption:
    """One of the contact's channels: its window, and what may be sent on it now."""

    decision: Decision
    forms: tuple[Form, ...]  # in the order offered; empty: nothing may be sent now
    blocked: tuple[Reason, ...] = ()  # why nothing may be sent (empty when something may)
    #: The customer cannot be reached here (or, WhatsApp, not with marketing templates).
    unreachable: Unreachable | None = None

    @property
    def channel(self) -> Channel:
        return self.decision.channel

    @property
    def open(self) -> bool:
        return bool(self.forms)


@dataclass(frozen=True)
class ComposePlan:
    """What a composer shows for one contact: every channel's options, and the
    draft made consistent with them (a channel of the contact, a form it allows)."""

    contact: Contact
    agent: str
    options: tuple[ChannelOption, ...]
    draft: Draft
    templates: tuple[WhatsAppTemplate, ...] = ()
    #: Approved templates that need what we cannot supply: listed, disabled, with the reason.
    unavailable: tuple[WhatsAppTemplate, ...] = ()
    takeover_from: str | None = None  # the other agent the conversation is assigned to
    #: LINE's monthly pushes, when LINE is the chosen channel and LINE said.
    line_quota: LineQuota | None = None

    @property
    def option(self) -> ChannelOption | None:
        return next((o for o in self.options if o.channel == self.draft.channel), None)

    @property
    def may_send(self) -> bool:
        return self.option is not None and self.draft.form is not None

    @property
    def may_wait(self) -> bool:
        """Nothing may go now on the chosen channel, but only because of its window:
        a message may wait for the customer's next message there."""
        option = self.option
        if option is None or self.draft.form is not None or option.forms:
            return False
        return option.unreachable is None or not option.unreachable.refuses_all

    @property
    def template(self) -> WhatsAppTemplate | None:
        return self.template_named(self.draft.template)

    def template_named(self, name: str | None) -> WhatsAppTemplate | None:
        return next((t for t in self.templates if t.field == name), None) if name else None

    @property
    def tags(self) -> tuple[str, ...]:
        option = self.option
        return option.decision.allowed_tags if option is not None else ()

    @property
    def limit(self) -> TextLimit | None:
        return text_limit(self.draft.channel) if self.draft.channel is not None else None

    @property
    def alternatives(self) -> tuple[ChannelOption, ...]:
        """The contact's other channels where something may be sent now."""
        return tuple(o for o in self.options if o.open and o.channel != self.draft.channel)

    @property
    def inputs(self) -> tuple[TemplateInput, ...]:
        """What the chosen template needs, one input each (empty without one)."""
        template = self.template
        return needs(template) if template is not None else ()

    @property
    def values(self) -> dict[str, str]:
        """The chosen template's values typed so far, by input key."""
        return {
            spec.key: value for spec, value in zip(self.inputs, self.draft.params, strict=False)
        }

    @property
    def languages(self) -> tuple[WhatsAppTemplate, ...]:
        """The chosen template in each of its approved languages offered here."""
        template = self.template
        if template is None:
            return ()
        return tuple(t for t in self.templates if t.name == template.name)

    @property
    def template_preview(self) -> TemplatePreview | None:
        """Header, body, footer and buttons as the customer will see them so far."""
        template = self.template
        return template_preview(template, self.values) if template is not None else None

    @property
    def preview(self) -> str | None:
        """The chosen template's body with the values typed so far ({{n}} where none)."""
        shown = self.template_preview
        return shown.body if shown is not None else None


def forms_for(decision: Decision, templates_available: bool) -> tuple[Form, ...]:
    """What may be composed on a channel now, free text first.

    Templates only where the channel has them and some are approved; a message
    tag only once free text needs more than the standard window (Messenger
    after 24 h), and only from the configured tags.
    """
    forms: list[Form] = []
    if decision.check(Form.TEXT) is not SendMode.REFUSED:
        forms.append(Form.TEXT)
    if templates_available and decision.check(Form.TEMPLATE) is not SendMode.REFUSED:
        forms.append(Form.TEMPLATE)
    tags = decision.allowed_tags
    if (
        tags
        and decision.mode is not SendMode.FREE
        and decision.check(Form.TAGGED, tags[0]) is not SendMode.REFUSED
    ):
        forms.append(Form.TAGGED)
    return tuple(forms)


def _option(
    decision: Decision,
    templates: Sequence[WhatsAppTemplate],
    unreachable: Unreachable | None = None,
) -> ChannelOption:
    """A channel's choices now: nothing where the customer cannot be reached
    (`templates` are those the contact may be offered: `offered_templates`)."""
    if unreachable is not None and unreachable.refuses_all:
        reason = Reason(unreachable.key, {"channel": decision.channel.value})
        return ChannelOption(decision, (), (reason,), unreachable)
    has_templates = bool(templates) and decision.check(Form.TEMPLATE) is not SendMode.REFUSED
    forms = forms_for(decision, has_templates)
    if forms:
        return ChannelOption(decision, forms, unreachable=unreachable)
    if decision.may_send and decision.mode is SendMode.TEMPLATE:
        # Template only, and none approved: nothing can go on this channel.
        return ChannelOption(decision, (), (decision.reason, Reason(NO_TEMPLATES)), unreachable)
    return ChannelOption(decision, (), (decision.reason,), unreachable)


def _options(
    contact: Contact, decisions: Sequence[Decision], templates: Sequence[WhatsAppTemplate]
) -> tuple[ChannelOption, ...]:
    """Every channel's option (templates go with the channels whose rule has them)."""
    return tuple(
        _option(
            d,
            templates if has_templates(d.channel) else (),
            contact.unreachable(d.channel),
        )
        for d in decisions
    )


def _by_recency(contact: Contact, decisions: Sequence[Decision]) -> list[Decision]:
    """The customer's most recent channel first; channels they never wrote on last."""
    inbound = contact.conversation.last_inbound_at

    def key(decision: Decision) -> tuple[bool, float]:
        at: datetime | None = inbound.get(decision.channel)
        return (at is None, -at.timestamp() if at is not None else 0.0)

    return sorted(decisions, key=key)  # stable: ties keep the channels' order


def line_channel(contact: Contact, decisions: Sequence[Decision]) -> Channel | None:
    """Where a one-line follow-up goes: the channel the customer wrote on most
    recently where free text is allowed and they can be reached; if none allows
    it, the most recent one where they can be reached."""
    ordered = _by_recency(contact, decisions)
    reachable = [d for d in ordered if contact.reachable(d.channel)]
    for decision in reachable:
        if decision.check(Form.TEXT) is not SendMode.REFUSED:
            return decision.channel
    return (reachable or ordered)[0].channel if ordered else None


def default_channel(contact: Contact, options: Sequence[ChannelOption]) -> Channel | None:
    """The composer's first channel: the one the customer wrote on last where
    something may be sent now, in whatever form it allows (a WhatsApp customer
    whose window closed gets WhatsApp's template picker, not SMS). A channel
    where nothing may go (its window, or the customer cannot be reached there)
    is passed over. When the customer wrote on none that
    allows anything, the first channel that takes free text, then the first
    where anything goes; when nothing may go anywhere, the most recent one."""
    ordered = _by_recency(contact, [o.decision for o in options])
    by_channel = {o.channel: o for o in options}
    wrote = contact.conversation.last_inbound_at
    for decision in ordered:
        if decision.channel in wrote and by_channel[decision.channel].open:
            return decision.channel
    for decision in ordered:
        if Form.TEXT in by_channel[decision.channel].forms:
            return decision.channel
    for decision in ordered:
        if by_channel[decision.channel].open:
            return decision.channel
    # Nothing may go anywhere: show why, on a channel the customer can be reached on.
    reachable = [d for d in ordered if by_channel[d.channel].unreachable is None]
    return (reachable or ordered)[0].channel if ordered else None


def _for_contact(contact: Contact, templates: Sequence[WhatsAppTemplate]) -> list[WhatsAppTemplate]:
    """No marketing template to a customer who stopped marketing messages."""
    stops = [
        stop
        for channel in Channel
        if has_templates(channel) and (stop := contact.unreachable(channel)) is not None
    ]
    return [
        t
        for t in templates
        if len(t.field) <= MAX_TEMPLATE_FIELD
        and not any(stop.blocks(template_category=t.category) for stop in stops)
    ]


def offered_templates(
    contact: Contact, templates: Sequence[WhatsAppTemplate]
) -> tuple[WhatsAppTemplate, ...]:
    """Approved templates the composer can offer `contact` and fill in (see
    MAX_TEMPLATE_FIELD / _PARAMS, `bot.domain.templates.needs`)."""
    return tuple(
        t
        for t in _for_contact(contact, templates)
        if t.sendable and len(needs(t)) <= MAX_TEMPLATE_PARAMS
    )


def unavailable_templates(
    contact: Contact, templates: Sequence[WhatsAppTemplate]
) -> tuple[WhatsAppTemplate, ...]:
    """Approved templates needing what we cannot supply (a LOCATION header, a FLOW
    button, a carousel…): shown disabled with `Template.unsupported`'s reason."""
    return tuple(t for t in _for_contact(contact, templates) if t.unsupported is not None)


def plan_for(
    contact: Contact,
    agent: str,
    decisions: Sequence[Decision],
    templates: Sequence[WhatsAppTemplate],
    draft: Draft = Draft(),
) -> ComposePlan:
    """The composer for `contact` with `draft` made consistent with what may go now.

    What the agent chose is kept where it still applies; the rest falls back
    to the defaults (a channel changed: its first form, no template or tag).
    """
    offered = offered_templates(contact, templates)
    options = _options(contact, decisions, offered)
    channel = draft.channel if draft.channel in contact.identities else None
    if channel is None:
        channel = default_channel(contact, options)
    option = next((o for o in options if o.channel == channel), None)
    forms = option.forms if option is not None else ()
    form = draft.form if draft.form in forms else (forms[0] if forms else None)
    template = next((t for t in offered if t.field == draft.template), None)
    if form is not Form.TEMPLATE:
        template = None
    params: tuple[str, ...] = ()
    if template is not None:
        params = _padded(draft.params, len(needs(template)))
    tags = option.decision.allowed_tags if option is not None else ()
    tag = draft.tag if draft.tag in tags else None
    if form is Form.TAGGED and tag is None and len(tags) == 1:
        tag = tags[0]
    if form is not Form.TAGGED:
        tag = None
    takeover_from = contact.conversation.held_by_other(agent)
    return ComposePlan(
        contact=contact,
        agent=agent,
        options=options,
        draft=replace(
            draft,
            channel=channel,
            form=form,
            template=template.field if template is not None else None,
            tag=tag,
            params=params,
        ),
        templates=offered,
        unavailable=unavailable_templates(contact, templates),
        takeover_from=takeover_from,
    )


def text_problem(channel: Channel, text: str) -> FieldProblem | None:
    """Empty, or over the channel's limit (`bot.domain.limits`); None when it fits."""
    if not text.strip():
        return FieldProblem(Field.TEXT, EMPTY_TEXT)
    limit = text_limit(channel)
    size = limit.measure(text.strip())
    if size > limit.amount:
        key = TOO_LONG_BYTES if limit.unit is Unit.BYTES else TOO_LONG
        return FieldProblem(
            Field.TEXT, key, {"channel": channel.value, "size": size, "limit": limit.amount}
        )
    return None


def _padded(params: Sequence[str], count: int) -> tuple[str, ...]:
    """Exactly `count` template parameters: missing ones empty, extra ones dropped."""
    return (tuple(params) + ("",) * count)[:count]


def validate(plan: ComposePlan, submitted: Draft, *, waiting: bool = False) -> list[FieldProblem]:
    """Everything wrong with `submitted` (empty: it may be sent as it is).

    A message for later (`send_at`) or for the customer's next message
    (`waiting`: the modal offered only that) is checked for its content here;
    whether the window takes it then is the scheduling's to say."""
    channel = submitted.channel
    option = next((o for o in plan.options if o.channel == channel), None)
    if channel is None or option is None:
        return [FieldProblem(Field.FORM, CHANNEL_GONE)]
    if plan.may_wait and waiting:
        problem = text_problem(channel, submitted.text)
        return [problem] if problem is not None else []
    form = submitted.form
    if submitted.send_at is not None and form is not None:
        option = replace(option, forms=tuple(dict.fromkeys((*option.forms, form))))
    if form is None or form not in option.forms:
        reasons = option.blocked or (
            option.decision.check_reason(form or Form.TEXT, submitted.tag),
        )
        return [FieldProblem(Field.FORM, r.key, dict(r.params)) for r in reasons]
    problems: list[FieldProblem] = []
    if plan.takeover_from and not submitted.takeover:
        problems.append(FieldProblem(Field.TAKEOVER, CONFIRM_TAKEOVER))
    if form in (Form.TEXT, Form.TAGGED):
        problem = text_problem(channel, submitted.text)
        if problem is not None:
            problems.append(problem)
    if form is Form.TAGGED and submitted.tag not in option.decision.allowed_tags:
        problems.append(FieldProblem(Field.TAG, PICK_TAG))
    if form is Form.TEMPLATE:
        template = plan.template_named(submitted.template)
        if template is None:
            problems.append(FieldProblem(Field.TEMPLATE, PICK_TEMPLATE))
        else:
            inputs = needs(template)
            values = _values(inputs, submitted.params)
            position = {spec.key: n for n, spec in enumerate(inputs, start=1)}
            for found in check(template, values):
                n = position[found.key]
                problems.append(_input_problem(inputs[n - 1], n, found))
    return problems


def _values(inputs: Sequence[TemplateInput], params: Sequence[str]) -> dict[str, str]:
    return {
        spec.key: value for spec, value in zip(inputs, _padded(params, len(inputs)), strict=True)
    }


def _input_problem(spec: TemplateInput, n: int, found: ValueProblem) -> FieldProblem:
    """A template value's problem on its input `n`; a body parameter's read as before
    ("Fill in parameter 2."), the others name their input (`compose.input.*`)."""
    if spec.kind is InputKind.BODY and found.error in (MISSING, BAD_FORMAT):
        key = MISSING_PARAM if found.error == MISSING else PARAM_FORMAT
        return FieldProblem(Field.PARAM, key, {"n": spec.label}, index=n)
    params: dict[str, str | int] = {**found.params, "input": spec.kind.value, "media": spec.media}
    return FieldProblem(Field.PARAM, found.error, params, index=n)


def template_components(plan: ComposePlan, submitted: Draft) -> tuple[FilledParameter, ...]:
    """The chosen template's checked values as send parameters (`validate` first)."""
    template = plan.template_named(submitted.template)
    if template is None:
        return ()
    return fill(template, _values(needs(template), submitted.params))


def request_for(plan: ComposePlan, submitted: Draft, idempotency_key: str) -> FollowupRequest:
    """The follow-up a valid composition asks for (see `validate`); a message
    waiting for the customer's next message is text."""
    if plan.may_wait and submitted.form is None:
        submitted = replace(submitted, form=Form.TEXT)
    if submitted.channel is None or submitted.form is None:
        raise ValueError("a composition without a channel or form cannot be sent")
    template = plan.template_named(submitted.template)
    if submitted.form is Form.TEMPLATE:
        if template is None:
            raise ValueError("a template follow-up needs an approved template")
        return FollowupRequest(
            contact_id=plan.contact.id,
            channel=submitted.channel,
            sender=plan.agent,
            idempotency_key=idempotency_key,
            form=Form.TEMPLATE,
            content=Content(
                template=TemplateUse(
                    name=template.name,
                    language=template.language,
                    parameters=tuple(
                        p.value
                        for p in template_components(plan, submitted)
                        if p.kind is InputKind.BODY
                    ),
                    parameter_names=template.parameter_names,
                )
            ),
            confirm_takeover=submitted.takeover,
        )
    return FollowupRequest(
        contact_id=plan.contact.id,
        channel=submitted.channel,
        sender=plan.agent,
        idempotency_key=idempotency_key,
        form=submitted.form,
        content=Content(
            text=submitted.text.strip(),
            tag=submitted.tag if submitted.form is Form.TAGGED else None,
        ),
        confirm_takeover=submitted.takeover,
    )


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

    async def plan(self, contact_id: str, agent: str, draft: Draft = Draft()) -> ComposePlan | None:
        """The composer for a contact (None when the contact no longer exists)."""
        contact = await self.contacts.get(contact_id)
        if contact is None:
            return None
        return await self.plan_contact(contact, agent, draft)

    async def plan_contact(
        self, contact: Contact, agent: str, draft: Draft = Draft()
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
        options = _options(before, decisions, templates)
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
