"""Slack payloads as the listeners read them: typed at the edge.

Only the fields a listener reads, each with its type; whatever else Slack
sends is ignored. A payload that does not fit is the request's fault:
`parse` raises MalformedSlackRequest (answered 400 by the error handler).
The shapes are Slack's:
https://api.slack.com/interactivity/slash-commands#app_command_handling,
https://api.slack.com/reference/interaction-payloads/block-actions,
https://api.slack.com/reference/interaction-payloads/views#view_submission,
https://api.slack.com/reference/interaction-payloads/shortcuts#message_actions,
https://api.slack.com/events/app_home_opened.

Submissions worked from the intake (`bot.slack.intake`) carry two marks of
ours besides: worked again (`rerun`) and answered by DM (`url_expired`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bot.slack.gate import MalformedSlackRequest
from bot.slack.intake import RERUN, URL_EXPIRED

_M = TypeVar("_M", bound=BaseModel)


def _or_empty(value: object) -> object:
    return "" if value is None else value


#: A text Slack may leave out or send as null: "" then.
Text = Annotated[str, BeforeValidator(_or_empty)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    #: Worked again (adopted from a dead process, or after Redis came back).
    rerun: bool = Field(default=False, alias=RERUN)
    #: The `response_url` expired before the work ran: answer by direct message.
    url_expired: bool = Field(default=False, alias=URL_EXPIRED)


def parse(model: type[_M], body: Mapping[str, Any]) -> _M:
    """`body` as `model`; MalformedSlackRequest (a 400) when it does not fit."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        fields = sorted({".".join(map(str, e["loc"][:2])) for e in error.errors()})
        raise MalformedSlackRequest(f"{model.__name__}: {', '.join(fields[:5])}") from None


class SlashCommand(Payload):
    command: Text = ""
    text: Text = ""
    user_id: str
    channel_id: Text = ""
    trigger_id: Text = ""
    response_url: str | None = None

    @property
    def agent(self) -> str:
        return self.user_id


class User(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str


class Option(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    value: Text = ""


class Action(BaseModel):
    """One action; the element's other fields (a select's choice, an input's
    value) are kept for the builder that reads them back (`as_dict`)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    action_id: Text = ""
    block_id: Text = ""
    value: Text = ""
    selected_option: Option | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class SharedFile(BaseModel):
    """A file shared in a message (https://api.slack.com/types/file)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Text
    name: Text = ""
    mimetype: Text = ""
    size: int = Field(default=0, ge=0)
    url_private: Text = ""


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    ts: Text = ""
    thread_ts: Text = ""
    text: Text = ""
    user: Text = ""
    bot_id: Text = ""
    files: tuple[SharedFile, ...] = ()

    @property
    def root(self) -> str:
        """The thread the message belongs to (its own ts when it starts one)."""
        return self.thread_ts or self.ts

    @property
    def is_reply(self) -> bool:
        return bool(self.thread_ts) and self.thread_ts != self.ts


class Interaction(Payload):
    """What every interactivity payload carries: who, and where to answer."""

    user: User
    trigger_id: Text = ""
    response_url: str | None = None

    @property
    def agent(self) -> str:
        return self.user.id


class Container(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Text = ""
    message_ts: Text = ""


class BlockActions(Interaction):
    actions: list[Action] = Field(min_length=1)
    #: The modal or Home tab clicked in, as Slack sent it (its state is read by builders).
    view: dict[str, Any] | None = None
    container: Container = Container()
    message: Message = Message()

    @property
    def action(self) -> Action:
        """The action clicked (Slack sends one per click)."""
        return self.actions[0]

    @property
    def from_home(self) -> bool:
        return self.view is not None and self.view.get("type") == "home"


class ViewSubmission(Interaction):
    #: The submitted view, as Slack sent it (its state is read by the modal's reader).
    view: dict[str, Any]

    @property
    def view_id(self) -> str:
        return str(self.view.get("id") or "")

    @property
    def private_metadata(self) -> str:
        return str(self.view.get("private_metadata") or "")

    @property
    def state(self) -> dict[str, Any]:
        """The view's `state` (what the agent entered), for the modal's reader."""
        state = self.view.get("state")
        return dict(state) if isinstance(state, dict) else {}

    def element(self, block_id: str, action_id: str) -> dict[str, Any]:
        """What the agent left in one input (`view.state.values`), or {}."""
        values = self.state.get("values") or {}
        element = (values.get(block_id) or {}).get(action_id)
        return dict(element) if isinstance(element, dict) else {}


class Channel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Text = ""


class MessageShortcut(Interaction):
    message: Message = Message()
    channel: Channel = Channel()


class BlockSuggestion(Interaction):
    """An external select asking for options as the agent types."""

    value: Text = ""
    view: dict[str, Any] | None = None


class AppHomeOpened(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    user: str
    tab: str = "home"
