"""A modal's state as Slack sends it (`view.state.values`), typed: what each
input holds, read by block and action id.

Readers of our modals (`bot.slack.compose_form`, the close modal) build a
`ViewState` first, so a state Slack would never send fails validation (a
malformed request, with `bot.slack.gate.reads_payload`) instead of being
taken for text.
https://api.slack.com/reference/interaction-payloads/views#view_submission
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Option(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    value: str = ""


class FileState(BaseModel):
    """A file attached in a `file_input`, as Slack describes it (a file object:
    https://api.slack.com/types/file)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    name: str = ""
    mimetype: str = ""
    size: int = 0
    url_private: str = ""


class ElementState(BaseModel):
    """One element's state in `view.state.values`, as Slack sends it: what was
    typed (`value`), picked (`selected_option`, `selected_date_time`), ticked
    (`selected_options`) or attached (`files`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    value: str | None = None
    selected_option: _Option | None = None
    selected_options: tuple[_Option, ...] = ()
    #: Epoch seconds; Slack's picker stays within years of now (a wild value is malformed).
    selected_date_time: int | None = Field(default=None, ge=0, le=2**34)
    files: tuple[FileState, ...] = ()


class ViewState(BaseModel):
    """A modal as submitted or redrawn: its metadata and its inputs' state
    (block id -> action id -> element). Other fields of the view are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    private_metadata: str = "{}"
    values: dict[str, dict[str, ElementState]] = {}

    @classmethod
    def of(cls, view: Mapping[str, Any]) -> ViewState:
        state = view.get("state") or {}
        # Anything but an object here fails validation: a malformed request.
        values = state.get("values") if isinstance(state, Mapping) else state
        return cls.model_validate(
            {"private_metadata": view.get("private_metadata") or "{}", "values": values or {}}
        )

    def element(self, block: str, action: str) -> ElementState | None:
        return self.values.get(block, {}).get(action)

    def selected(self, block: str, action: str) -> str | None:
        """The picked option's value, None when nothing is picked."""
        element = self.element(block, action)
        option = element.selected_option if element is not None else None
        return option.value if option is not None and option.value else None

    def typed(self, block: str, action: str) -> str:
        element = self.element(block, action)
        return (element.value or "") if element is not None else ""

    def moment(self, block: str, action: str) -> int | None:
        """A date and time picked (epoch seconds), None when none."""
        element = self.element(block, action)
        return element.selected_date_time if element is not None else None

    def files(self, block: str, action: str) -> tuple[FileState, ...]:
        element = self.element(block, action)
        return element.files if element is not None else ()

    def ticked(self, block: str, action: str) -> bool:
        element = self.element(block, action)
        return element is not None and bool(element.selected_options)
