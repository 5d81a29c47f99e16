"""One message model, from the compose form to the connector request (no I/O).

A message's `Content` is what the customer receives: free text, or an
approved template (`TemplateUse`), with the message tag the agent picked and
any files (`Attachment`). The composer builds it, the follow-up service decides
how it may go (`SendMode`, from `bot.domain.windows`) and commits an
`OutboundMessage` holding it, the outbox stores it (`bot.store.codec`) and
reads it back, and the relay hands the same `Content` to the connector inside
its `OutboundRequest`. Nothing along the way copies its fields.

Rich messages grow here: a template's header and button parameters go on
`TemplateUse` (its components), files on `Content.attachments`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.channels import Channel
from bot.domain.media import MediaKind
from bot.domain.models import MessageStatus, StatusChange
from bot.domain.templates import FilledParameter
from bot.domain.windows import Form, SendMode

__all__ = [
    "Attachment",
    "Content",
    "Form",
    "MediaKind",
    "OutboundMessage",
    "SendMode",
    "TemplateUse",
]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a message; its bytes live in the media store, never in Redis."""

    kind: MediaKind
    file_name: str
    mime_type: str
    size: int  # bytes
    key: str  # the media store's key for the file


@dataclass(frozen=True, slots=True)
class TemplateUse:
    """An approved template as one message uses it: which one, in which
    language, with which body parameters.

    `parameters` are the values in the template's order; a NAMED template
    (`{{first_name}}`) also names each one in `parameter_names` (aligned,
    one name per value; empty for a positional template). `components` are
    every value the template takes, header and buttons included, as
    `bot.domain.templates.fill` made them from the synced template: the
    connector sends them as Meta's `components` (`send_components`); empty,
    the body parameters alone are sent.
    """

    name: str
    language: str = ""
    parameters: tuple[str, ...] = ()
    parameter_names: tuple[str, ...] = ()
    components: tuple[FilledParameter, ...] = ()

    def __post_init__(self) -> None:
        if self.parameter_names and len(self.parameter_names) != len(self.parameters):
            raise ValueError("a named template needs one name per parameter")

    @property
    def named_parameters(self) -> tuple[tuple[str, str], ...]:
        """(name, value) per parameter of a NAMED template; empty for a positional one."""
        return tuple(zip(self.parameter_names, self.parameters, strict=True))


@dataclass(frozen=True, slots=True)
class Content:
    """What the customer receives: text, or a template; the tag the agent
    picked (Messenger/Instagram message tags); files."""

    text: str = ""
    template: TemplateUse | None = None
    tag: str | None = None
    attachments: tuple[Attachment, ...] = ()


#: A message with nothing in it yet.
NO_CONTENT = Content()


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A follow-up accepted for sending (or recorded as refused), with its status history."""

    id: str
    contact_id: str
    channel: Channel
    mode: SendMode
    form: Form
    sender: str
    content: Content = NO_CONTENT
    status: MessageStatus = MessageStatus.QUEUED
    created_at: datetime | None = None
    history: tuple[StatusChange, ...] = ()
    channel_message_id: str | None = None
    idempotency_key: str | None = None
    reason: str = ""  # failed / outside the window: why, in words
    sent_at: datetime | None = None
    #: The WeChat window start (epoch s) the commit (or a send) counted this message in.
    counted_window: int | None = None
    #: The month ("YYYY-MM") whose Viber chatbot-initiated quota holds this
    #: message: the commit's, or the send's when it became (or stayed) one later.
    counted_month: str | None = None
