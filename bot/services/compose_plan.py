"""The composer's plan: what an agent may send a contact now, where, and in which form.

The policy (`bot.domain.windows`) decides each channel's window; this module
turns those decisions into the choices a composer offers (free text, an
approved WhatsApp template, a Messenger message tag) and picks sensible
defaults (the channel the customer wrote on last where anything may go, in the
form it allows). Slack-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.channels import Channel
from bot.domain.limits import TextLimit, text_limit
from bot.domain.messages import Attachment
from bot.domain.models import Contact
from bot.domain.reachability import LineQuota, Unreachable
from bot.domain.templates import (
    TemplateInput,
    TemplatePreview,
    needs,
)
from bot.domain.templates import preview as template_preview
from bot.domain.windows import (
    Decision,
    Form,
    Reason,
    SendMode,
    has_templates,
)
from bot.store.templates import WhatsAppTemplate

# Catalogue keys of the composer's own problems (the policy's reasons come from
# `bot.domain.windows`).
NO_TEMPLATES = "compose.no_templates"


#: A template offered in the picker must fit Slack: its "name:language" is an
#: option value (150 characters at most), and one input per value it needs
#: (`bot.domain.templates.needs`) must fit in a modal (100 blocks) beside the
#: rest of the composer.
MAX_TEMPLATE_FIELD = 150
MAX_TEMPLATE_PARAMS = 60


@dataclass(frozen=True)
class AttachedFile:
    """A file the agent attached (or shared in the thread): what it says it is,
    and where it is fetched from (Slack's `url_private`, with the bot token)."""

    name: str
    mime_type: str
    size: int
    url: str


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
    #: Files attached; once fetched into the media store, as the message's attachments.
    files: tuple[AttachedFile, ...] = ()
    attachments: tuple[Attachment, ...] = ()


#: A composer opened with nothing chosen yet.
EMPTY_DRAFT = Draft()


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


def channel_options(
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


def padded_params(params: Sequence[str], count: int) -> tuple[str, ...]:
    """Exactly `count` template parameters: missing ones empty, extra ones dropped."""
    return (tuple(params) + ("",) * count)[:count]


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
    options = channel_options(contact, decisions, offered)
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
        params = padded_params(draft.params, len(needs(template)))
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
