"""How records are stored: every hash field and stream-entry field named once.

Key names are built in `bot.store.keys`; the fields inside those keys are
named here, and the records are encoded to and decoded from them here. Lua
scripts that read or write a field take its name from Python (see
`claim_batch.lua`, `finish_batch.lua`) or say which constant they mirror.

A message's hash (`Keys.message`) holds the `OutboundMessage` field by field;
its template and attachments are JSON (read only for the messages that have
them). The outbox stream's entries name the message and its contact.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from bot.domain.channels import Channel
from bot.domain.messages import (
    Attachment,
    Content,
    Form,
    MediaKind,
    OutboundMessage,
    SendMode,
    TemplateUse,
)
from bot.domain.models import MessageStatus, StatusChange, from_epoch, to_epoch
from bot.domain.templates import fill_from_rows, fill_rows
from bot.store.builders import builder


class MessageHash:
    """Fields of a message's hash (`Keys.message`)."""

    STATUS: Final = "status"  # a `MessageStatus` value
    CHANNEL: Final = "channel"  # a `Channel` value
    CONTACT_ID: Final = "contact_id"
    MODE: Final = "mode"  # a `SendMode` value
    FORM: Final = "form"  # a `Form` value
    SENDER: Final = "sender"  # the agent's Slack user id
    TEXT: Final = "text"
    #: JSON {"name", "language", "parameters", "parameter_names", "components"};
    #: absent: no template.
    TEMPLATE: Final = "template"
    TAG: Final = "tag"  # the message tag the agent picked; absent: none
    #: JSON [{"kind", "file_name", "mime_type", "size", "key"}]; absent: no files.
    ATTACHMENTS: Final = "attachments"
    CREATED_AT: Final = "created_at"  # epoch seconds
    #: "status:epoch|status:epoch|…", oldest first.
    HISTORY: Final = "history"
    CHANNEL_MESSAGE_ID: Final = "channel_message_id"  # the channel's id, once sent
    IDEMPOTENCY_KEY: Final = "idempotency_key"
    REASON: Final = "reason"  # failed / outside the window: why, in words
    SENT_AT: Final = "sent_at"  # epoch seconds
    COUNTED_WINDOW: Final = "counted_window"  # the WeChat window start (epoch s) counted in
    COUNTED_MONTH: Final = "counted_month"  # "YYYY-MM": the Viber quota month counted in
    ATTEMPTS: Final = "attempts"  # sends tried and put off (the relay's retries)
    SLACK_TS: Final = "slack_ts"  # the message's entry in the conversation's Slack thread


class OutboxStream:
    """Fields of an outbox stream entry (`Keys.outbox`)."""

    MESSAGE_ID: Final = "message_id"
    CONTACT_ID: Final = "contact_id"  # absent in old entries: read from the message


#: The fields `decode_message_values` reads, in its order (status and channel
#: first: `claim_batch.lua` relies on it).
MESSAGE_FIELDS: Final = (
    MessageHash.STATUS,
    MessageHash.CHANNEL,
    MessageHash.CONTACT_ID,
    MessageHash.MODE,
    MessageHash.FORM,
    MessageHash.SENDER,
    MessageHash.TEXT,
    MessageHash.TEMPLATE,
    MessageHash.TAG,
    MessageHash.ATTACHMENTS,
    MessageHash.CREATED_AT,
    MessageHash.HISTORY,
    MessageHash.CHANNEL_MESSAGE_ID,
    MessageHash.IDEMPOTENCY_KEY,
    MessageHash.REASON,
    MessageHash.SENT_AT,
    MessageHash.COUNTED_WINDOW,
    MessageHash.COUNTED_MONTH,
)

# Enum look-ups by value: faster than calling the enum (a hot path). Keyed by
# what a hash read answers (`str | None`: indexing needs no `cast`, a call each).
_STATUSES: dict[str | None, MessageStatus] = {status.value: status for status in MessageStatus}
_CHANNELS: dict[str | None, Channel] = {channel.value: channel for channel in Channel}
_MODES: dict[str | None, SendMode] = {mode.value: mode for mode in SendMode}
_FORMS: dict[str | None, Form] = {form.value: form for form in Form}
#: Stored epochs as datetimes: a batch of messages shares few seconds (a hot path).
_moment = functools.lru_cache(maxsize=4096)(from_epoch)
#: The records every claimed message is decoded into (see `bot.store.builders`).
_message = builder(OutboundMessage)
_content = builder(Content)
_change = builder(StatusChange)


# --- the parts of a message ---------------------------------------------------------


def encode_template(template: TemplateUse) -> str:
    """`MessageHash.TEMPLATE`: the template use as JSON."""
    value: dict[str, Any] = {"name": template.name, "language": template.language}
    if template.parameters:
        value["parameters"] = list(template.parameters)
    if template.parameter_names:
        value["parameter_names"] = list(template.parameter_names)
    if template.components:
        value["components"] = fill_rows(template.components)
    return json.dumps(value, ensure_ascii=False)


def decode_template(raw: str) -> TemplateUse:
    value = json.loads(raw)
    return TemplateUse(
        name=str(value["name"]),
        language=str(value.get("language") or ""),
        parameters=tuple(str(v) for v in value.get("parameters", ())),
        parameter_names=tuple(str(n) for n in value.get("parameter_names", ())),
        components=fill_from_rows(value.get("components") or ()),
    )


def encode_attachments(attachments: Sequence[Attachment]) -> str:
    """`MessageHash.ATTACHMENTS`: the files as a JSON list."""
    return json.dumps(
        [
            {
                "kind": a.kind.value,
                "file_name": a.file_name,
                "mime_type": a.mime_type,
                "size": a.size,
                "key": a.key,
            }
            for a in attachments
        ],
        ensure_ascii=False,
    )


def decode_attachments(raw: str) -> tuple[Attachment, ...]:
    return tuple(
        Attachment(
            kind=MediaKind(item["kind"]),
            file_name=str(item["file_name"]),
            mime_type=str(item["mime_type"]),
            size=int(item["size"]),
            key=str(item["key"]),
        )
        for item in json.loads(raw)
    )


def encode_history(history: Sequence[StatusChange]) -> str:
    """`MessageHash.HISTORY`: "status:epoch|…"."""
    return "|".join(f"{change.status.value}:{to_epoch(change.at)}" for change in history)


def history_entry(status: MessageStatus, epoch: str) -> str:
    """One entry of `MessageHash.HISTORY`."""
    return f"{status.value}:{epoch}"


def decode_history(raw: str | None) -> tuple[StatusChange, ...]:
    if not raw:
        return ()
    if "|" not in raw:  # one change (a message as queued): the usual case, directly
        was, _, at = raw.partition(":")
        when = _moment(at)
        return (_change(_STATUSES[was], when, ""),) if when is not None else ()
    changes = []
    for entry in raw.split("|"):
        if entry:
            was, _, at = entry.partition(":")
            when = _moment(at)
            if when is not None:
                changes.append(_change(_STATUSES[was], when, ""))
    return tuple(changes)


#: `decode_history` remembered: the messages of a claimed batch were mostly queued
#: in the same few seconds, and a queued message's history is its one change
#: ("queued:<epoch>"), so most of a batch shares a handful of them (a history
#: 0.52 µs to decode, 0.07 µs remembered; the tuple and its changes are immutable).
_history = functools.lru_cache(maxsize=4096)(decode_history)


def content_as_json(content: Content) -> dict[str, Any]:
    """The whole content as one JSON-ready value (a scheduled follow-up's payload)."""
    value: dict[str, Any] = {"text": content.text}
    if content.template is not None:
        value["template"] = json.loads(encode_template(content.template))
    if content.tag:
        value["tag"] = content.tag
    if content.attachments:
        value["attachments"] = json.loads(encode_attachments(content.attachments))
    return value


def content_from_json(value: Mapping[str, Any]) -> Content:
    template, attachments = value.get("template"), value.get("attachments")
    return Content(
        text=str(value.get("text") or ""),
        template=decode_template(json.dumps(template)) if template else None,
        tag=value.get("tag") or None,
        attachments=decode_attachments(json.dumps(attachments)) if attachments else (),
    )


# --- the message --------------------------------------------------------------------


def encode_message(message: OutboundMessage) -> dict[str, str]:
    """The message's hash; empty optional fields are left out."""
    content = message.content
    fields = {
        MessageHash.STATUS: message.status.value,
        MessageHash.CHANNEL: message.channel.value,
        MessageHash.CONTACT_ID: message.contact_id,
        MessageHash.MODE: message.mode.value,
        MessageHash.FORM: message.form.value,
        MessageHash.SENDER: message.sender,
        MessageHash.TEXT: content.text,
        MessageHash.HISTORY: encode_history(message.history),
    }
    if content.template is not None:
        fields[MessageHash.TEMPLATE] = encode_template(content.template)
    if content.tag:
        fields[MessageHash.TAG] = content.tag
    if content.attachments:
        fields[MessageHash.ATTACHMENTS] = encode_attachments(content.attachments)
    if message.created_at is not None:
        fields[MessageHash.CREATED_AT] = str(to_epoch(message.created_at))
    if message.channel_message_id:
        fields[MessageHash.CHANNEL_MESSAGE_ID] = message.channel_message_id
    if message.idempotency_key:
        fields[MessageHash.IDEMPOTENCY_KEY] = message.idempotency_key
    if message.reason:
        fields[MessageHash.REASON] = message.reason
    if message.sent_at is not None:
        fields[MessageHash.SENT_AT] = str(to_epoch(message.sent_at))
    if message.counted_window is not None:
        fields[MessageHash.COUNTED_WINDOW] = str(message.counted_window)
    if message.counted_month:
        fields[MessageHash.COUNTED_MONTH] = message.counted_month
    return fields


def decode_message(message_id: str, data: Mapping[str, str]) -> OutboundMessage:
    """A message from its stored hash (as HGETALL answers it)."""
    return decode_message_values(message_id, [data.get(name) for name in MESSAGE_FIELDS])


def decode_message_values(message_id: str, values: Sequence[str | None]) -> OutboundMessage:
    """A message from its hash's `MESSAGE_FIELDS`, in that order (None: the
    field is absent), as HMGET answers them.

    Every message the relay claims goes through here: the records are built
    with positional arguments (keywords cost more than the values) and a text
    message skips the template and attachment decoders."""
    (status, channel, contact_id, mode, form, sender, text, template, tag, attachments,
     created_at, history, channel_message_id, idempotency_key, reason, sent_at,
     counted_window, counted_month) = values  # fmt: skip
    if template or attachments:
        content = Content(
            text or "",
            decode_template(template) if template else None,
            tag or None,
            decode_attachments(attachments) if attachments else (),
        )
    else:
        content = _content(text or "", None, tag or None, ())
    return _message(
        message_id,
        contact_id,
        _CHANNELS[channel],
        _MODES[mode],
        _FORMS[form],
        sender,
        content,
        _STATUSES[status],
        _moment(created_at) if created_at else None,
        _history(history),
        channel_message_id or None,
        idempotency_key or None,
        reason or "",
        _moment(sent_at) if sent_at else None,
        int(counted_window) if counted_window else None,
        counted_month or None,
    )


def status_fields(
    status: MessageStatus, reason: str, channel_message_id: str | None, epoch: str
) -> dict[str, str]:
    """The fields a status change writes besides the status and its history."""
    fields = {}
    if reason:
        fields[MessageHash.REASON] = reason
    if channel_message_id:
        fields[MessageHash.CHANNEL_MESSAGE_ID] = channel_message_id
    if status is MessageStatus.SENT:
        fields[MessageHash.SENT_AT] = epoch
    return fields


# --- the outbox stream --------------------------------------------------------------


def outbox_entry(message_id: str, contact_id: str) -> dict[str, str]:
    """The fields of an outbox stream entry for a message."""
    return {OutboxStream.MESSAGE_ID: message_id, OutboxStream.CONTACT_ID: contact_id}
