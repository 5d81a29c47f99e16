"""Acting like Slack on the compose modal: its state, select changes, submissions.

Slack sends a modal's `view` with every block action and submission, its
`state.values` holding what each input and select shows (`block_id ->
action_id -> value`); these helpers build that from the view the app
rendered plus the agent's changes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from bot.domain.messages import OutboundMessage
from bot.slack import ids
from bot.store.keys import ContactId
from tests.slack.conftest import AGENT, Surface, buttons, texts

__all__ = ["buttons", "texts"]


def elements(view: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(block_id, element) of every input element and section accessory."""
    for block in view.get("blocks") or []:
        for element in (block.get("element"), block.get("accessory")):
            if isinstance(element, dict) and element.get("action_id"):
                yield str(block.get("block_id")), element


def block_of(view: Mapping[str, Any], action_id: str) -> str:
    for block_id, element in elements(view):
        if element["action_id"] == action_id:
            return block_id
    raise AssertionError(f"no {action_id} in the view")


def action_ids(view: Mapping[str, Any]) -> list[str]:
    return [element["action_id"] for _, element in elements(view)]


def values_of(view: Mapping[str, Any], changes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The view's state as Slack would send it: initial values, then `changes` by action_id.

    A select's change is its option value; a text input's its text; the
    takeover checkbox's a bool.
    """
    changes = dict(changes or {})
    values: dict[str, Any] = {}
    for block_id, element in elements(view):
        action = str(element["action_id"])
        kind = element["type"]
        entry: dict[str, Any] = {"type": kind}
        if kind in ("static_select", "external_select"):
            option = element.get("initial_option")
            if action in changes:
                option = {"value": changes.pop(action)} if changes[action] is not None else None
            entry["selected_option"] = option
        elif kind == "datetimepicker":
            entry["selected_date_time"] = changes.pop(action, element.get("initial_date_time"))
        elif kind == "checkboxes":
            selected = list(element.get("initial_options") or [])
            if action in changes:
                selected = [{"value": "yes"}] if changes.pop(action) else []
            entry["selected_options"] = selected
        else:
            entry["value"] = changes.pop(action, element.get("initial_value"))
        values.setdefault(block_id, {})[action] = entry
    assert not changes, f"not in the view: {sorted(changes)}"
    return values


async def open_composer(surface: Surface, contact_id: str, *, user: str = AGENT) -> dict[str, Any]:
    """The agent taps *Follow up* on a contact (a search result): the modal it opens."""
    before = set(surface.slack.views)
    status, _, _ = await surface.click(ids.CONTACT_FOLLOWUP, contact_id, user=user)
    await surface.settle()
    assert status == 200
    opened = sorted(set(surface.slack.views) - before)
    assert opened, "no modal opened"
    return surface.slack.views[opened[-1]]


async def change(
    surface: Surface,
    view: Mapping[str, Any],
    action_id: str,
    value: str,
    *,
    user: str = AGENT,
    typed: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The agent picks `value` in a select (or presses Enter in a parameter input):
    Slack sends the block action with the view; the modal as the app redrew it."""
    changes = dict(typed or {})
    changes[action_id] = value
    state = {"values": values_of(view, changes)}
    kind = "plain_text_input" if action_id.startswith(ids.COMPOSE_PARAM) else "static_select"
    action: dict[str, Any] = {
        "type": kind,
        "action_id": action_id,
        "block_id": block_of(view, action_id),
        "action_ts": f"{time.time():.6f}",
    }
    if kind == "static_select":
        action["selected_option"] = {"value": value}
    else:
        action["value"] = value
    status, _ = await surface.interact(
        {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": "T0TEAM"},
            "container": {"type": "view", "view_id": view["id"]},
            "view": dict(view, state=state),
            "actions": [action],
        }
    )
    await surface.settle()
    assert status == 200
    return surface.slack.views[str(view["id"])]


async def submit(
    surface: Surface,
    view: Mapping[str, Any],
    changes: Mapping[str, Any] | None = None,
    *,
    user: str = AGENT,
) -> dict[str, Any]:
    """Submit the modal with `changes`; the ack's JSON (empty: accepted and closed)."""
    status, ack = await surface.submit(dict(view), values_of(view, changes), user=user)
    await surface.settle()
    assert status == 200
    return ack


async def messages_of(surface: Surface, contact_id: str) -> list[OutboundMessage]:
    """The contact's recent follow-ups (queued, ❗, …), newest first."""
    outbox = surface.deps.outbox
    partition = ContactId.parse(contact_id).partition
    found = []
    for message_id in await outbox.recent_message_ids(contact_id, 20):
        message = await outbox.get_message(partition, message_id)
        assert message is not None
        found.append(message)
    return found


def ephemerals(surface: Surface) -> list[dict[str, Any]]:
    """What the app told agents with chat.postEphemeral, oldest first."""
    return [call.args for call in surface.slack.calls_to("chat.postEphemeral")]
