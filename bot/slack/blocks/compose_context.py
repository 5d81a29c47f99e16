"""The compose modal's ids and context: its block ids, what it carries between
updates (`private_metadata`), and the ids of a template's inputs.

Shared by the modal's builders (`compose_modal`, `compose_template`) and its
reader (`bot.slack.compose_form`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass

from bot.domain.channels import Channel
from bot.domain.windows import Form
from bot.services.compose_plan import AttachedFile
from bot.slack import ids
from bot.slack.gate import reads_payload
from bot.slack.origin import Origin
from bot.slack.payloads import compact_json

# --- block ids -------------------------------------------------------------------------
BLOCK_CHANNEL = "compose_channel"
BLOCK_FORM = "compose_form"
BLOCK_TEMPLATE = "compose_template"
BLOCK_TAG = "compose_tag"
BLOCK_TEXT = "compose_text"
BLOCK_TAKEOVER = "compose_takeover"
BLOCK_FILES = "compose_files"
BLOCK_PREVIEW = "compose_preview"
PARAM_BLOCK = "compose_param:"  # + template digest + ":" + number
LANGUAGE_BLOCK = "compose_template_language:"  # + the template name's digest


#: Files a shortcut carries into the modal at most.
MAX_SHARED_FILES = 3
#: Slack's limit for a view's private_metadata.
METADATA_MAX = 3000


@dataclass(frozen=True)
class ComposeContext:
    """What the modal carries between updates: the contact, where to answer, and
    the channel and form it was rendered for (to tell a changed select)."""

    contact_id: str
    origin: Origin = dataclasses.field(default_factory=Origin)
    channel: Channel | None = None
    form: Form | None = None
    #: The message typed so far, kept while the modal shows no text input (a
    #: channel where nothing may go, the template form), so it is not lost.
    text: str = ""
    #: Files shared in the thread that the message shortcut was used on.
    files: tuple[AttachedFile, ...] = ()

    def pack(self) -> str:
        """As `private_metadata` (3,000 characters at most: a kept text is cut to fit)."""
        text = self.text
        while True:
            packed = compact_json(
                {
                    "c": self.contact_id,
                    "o": self.origin.channel,
                    "t": self.origin.thread_ts,
                    "ch": self.channel.value if self.channel else "",
                    "f": self.form.value if self.form else "",
                    "x": text,
                    "fl": [[f.name, f.mime_type, f.size, f.url] for f in self.files],
                }
            )
            if len(packed) <= METADATA_MAX or not text:
                return packed
            text = text[: max(0, len(text) - (len(packed) - METADATA_MAX))]

    @classmethod
    @reads_payload
    def unpack(cls, value: str) -> ComposeContext:
        data = json.loads(value)
        return cls(
            contact_id=str(data["c"]),
            origin=Origin(str(data.get("o") or ""), str(data.get("t") or "")),
            channel=Channel(data["ch"]) if data.get("ch") else None,
            form=Form(data["f"]) if data.get("f") else None,
            text=str(data.get("x") or ""),
            files=tuple(
                AttachedFile(str(name), str(mime), int(size), str(url))
                for name, mime, size, url in (data.get("fl") or [])[:MAX_SHARED_FILES]
            ),
        )


def template_digest(field: str | None) -> str:
    """A short stable id of a template: its parameter inputs' block ids contain it,
    so picking another template starts with empty inputs."""
    return hashlib.blake2b((field or "").encode(), digest_size=4).hexdigest()


def template_name(field: str) -> str:
    """`name` of a template's `name:language`."""
    return field.rpartition(":")[0]


def param_block(field: str | None, n: int) -> str:
    """Input `n`'s block id: per template name, so its values stay when only the
    language changes and go when another template is picked."""
    return f"{PARAM_BLOCK}{template_digest(template_name(field or ''))}:{n}"


def param_action(n: int) -> str:
    return f"{ids.COMPOSE_PARAM}_{n}"


#: The parameter inputs' action ids (`compose_param_1`, …).
PARAM_ACTION = re.compile(rf"^{ids.COMPOSE_PARAM}_\d+$")


def language_block(name: str) -> str:
    """The language select's block id: per template name, so a new template's select
    starts from its own default."""
    return f"{LANGUAGE_BLOCK}{template_digest(name)}"
