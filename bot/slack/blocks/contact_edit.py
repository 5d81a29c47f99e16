"""The edit-contact modal (name, phone, e-mail) and its merge confirmation.

Opened by *Edit* on a search result, a `/reopen` answer or a thread root
(`ids.CONTACT_EDIT`, value: the contact id). Its submission is read into a
`ContactEdit`; a phone or e-mail of another contact turns the modal into a
confirmation (`ids.MERGE_VIEW`) that carries the edit and both ids.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.domain.channels import CHANNEL_LABELS, Channel
from bot.domain.local_time import zone_for_phone
from bot.domain.models import Contact
from bot.services.contact_edit import NAME_MAX, ContactEdit
from bot.slack import ids
from bot.slack.gate import reads_payload
from bot.slack.i18n import t
from bot.slack.render import escape
from bot.slack.view_state import ViewState

#: The modal's input blocks, by the field each edits (errors name the block).
BLOCKS: dict[str, str] = {
    "first_name": "edit_first",
    "last_name": "edit_last",
    "phone": "edit_phone",
    "email": "edit_email",
    "time_zone": "edit_time_zone",
}
_ACTIONS: dict[str, str] = {
    "first_name": ids.EDIT_FIRST_NAME,
    "last_name": ids.EDIT_LAST_NAME,
    "phone": ids.EDIT_PHONE,
    "email": ids.EDIT_EMAIL,
    "time_zone": ids.EDIT_TIME_ZONE,
}
_MAX: dict[str, int] = {
    "first_name": NAME_MAX,
    "last_name": NAME_MAX,
    "phone": 40,
    "email": 254,
    "time_zone": 64,
}


def _plain(text: str) -> PlainTextObject:
    return PlainTextObject(text=text[:150], emoji=True)


def _zone_hint(contact: Contact, lang: str) -> str:
    """What an empty time zone means for this contact."""
    from_phone = zone_for_phone(contact.phone)
    if from_phone is not None:
        return t("edit.time_zone.hint.phone", lang, zone=from_phone.key)
    return t("edit.time_zone.hint.none", lang)


def edit_modal(contact: Contact, lang: str) -> View:
    """Name, phone and e-mail, filled with the contact's own."""
    current = {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "phone": contact.phone or "",
        "email": contact.email or "",
        "time_zone": contact.time_zone or "",
    }
    blocks: list[Any] = [
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=t("edit.intro", lang, name=escape(contact.display_name))[:2000]
                )
            ]
        )
    ]
    for name, block_id in BLOCKS.items():
        blocks.append(
            InputBlock(
                block_id=block_id,
                label=_plain(t(f"edit.{name}", lang)),
                optional=True,
                element=PlainTextInputElement(
                    action_id=_ACTIONS[name],
                    initial_value=current[name][: _MAX[name]] or None,
                    max_length=_MAX[name],
                    placeholder=_plain(t("edit.time_zone.placeholder", lang))
                    if name == "time_zone"
                    else None,
                ),
                hint=_plain(_zone_hint(contact, lang)) if name == "time_zone" else None,
            )
        )
    return View(
        type="modal",
        callback_id=ids.EDIT_VIEW,
        title=_plain(t("edit.title", lang)),
        submit=_plain(t("edit.submit", lang)),
        close=_plain(t("button.cancel", lang)),
        private_metadata=json.dumps({"c": contact.id}, separators=(",", ":")),
        blocks=blocks,
    )


@reads_payload
def read_edit(view: Mapping[str, Any]) -> tuple[str, ContactEdit]:
    """(contact id, what was typed) of a submitted edit modal (its state typed:
    a shape Slack would never send is a malformed request)."""
    state = ViewState.of(view)
    data = json.loads(state.private_metadata)
    typed = {name: state.typed(block, _ACTIONS[name]) for name, block in BLOCKS.items()}
    return str(data["c"]), ContactEdit(**typed)


@dataclass(frozen=True)
class MergeRequest:
    """What the confirmation carries: whose edit, whom to merge, the edit itself."""

    contact_id: str
    other_id: str
    edit: ContactEdit

    def pack(self) -> str:
        e = self.edit
        return json.dumps(
            {
                "c": self.contact_id,
                "o": self.other_id,
                "e": [e.first_name, e.last_name, e.phone, e.email, e.time_zone],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    @reads_payload
    def unpack(cls, value: str) -> MergeRequest:
        data = json.loads(value)
        first, last, phone, email, *zone = (str(v) for v in data["e"])
        edit = ContactEdit(first, last, phone, email, zone[0] if zone else "")
        return cls(str(data["c"]), str(data["o"]), edit)


def channels_of(contact: Contact) -> str:
    return ", ".join(CHANNEL_LABELS[c] for c in contact.channels) or "—"


def merge_view(request: MergeRequest, contact: Contact, other: Contact, lang: str) -> View:
    """ "This phone/e-mail is another contact's: merge the two?" (submit merges)."""
    text = t(
        "edit.merge.question",
        lang,
        name=escape(contact.display_name),
        other=escape(other.display_name),
        channels=channels_of(other),
    )
    return View(
        type="modal",
        callback_id=ids.MERGE_VIEW,
        title=_plain(t("edit.merge.title", lang)),
        submit=_plain(t("edit.merge.submit", lang)),
        close=_plain(t("button.cancel", lang)),
        private_metadata=request.pack(),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=text[:3000])),
            ContextBlock(elements=[MarkdownTextObject(text=t("edit.merge.keeps", lang))]),
        ],
    )


def read_merge(view: Mapping[str, Any]) -> MergeRequest:
    return MergeRequest.unpack(str(view.get("private_metadata") or "{}"))


def conflict_error(other: Contact, channels: tuple[Channel, ...], lang: str) -> str:
    """Why two contacts cannot be merged: both have an identity on these channels."""
    return t(
        "edit.merge.conflict",
        lang,
        other=escape(other.display_name),
        channels=", ".join(CHANNEL_LABELS[c] for c in channels),
    )


def notice_view(text: str, lang: str) -> View:
    """The confirmation replaced by why it could not be done (no submit)."""
    return View(
        type="modal",
        title=_plain(t("edit.merge.title", lang)),
        close=_plain(t("button.close", lang)),
        blocks=[SectionBlock(text=MarkdownTextObject(text=text[:3000]))],
    )
