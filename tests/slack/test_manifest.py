"""The app manifests (`manifests/`) agree with each other, with Slack's limits and with the code.

Every slash command, shortcut and event in them has a listener, and every listener
is declared there; every action and view id in `bot/slack/ids.py` has a listener,
and every listener's id is in `ids.py`; the bot scopes are exactly those the Web
API methods the code calls need. Listeners are found by handing `register_all` a
recording stand-in for the Bolt app.
"""

from __future__ import annotations

import ast
import copy
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import ids
from bot.slack.serving import EVENTS_PATH
from handlers import register_all
from tests.slack.conftest import Surface

ROOT = Path(__file__).resolve().parents[2]
HTTP_MANIFEST = ROOT / "manifests" / "manifest.yml"
SOCKET_MANIFEST = ROOT / "manifests" / "manifest.socket.yml"
REQUEST_URL = f"https://YOUR-HOST{EVENTS_PATH}"

#: The bot scope each Web API method the app may call needs (None: no scope), from
#: each method's page at https://api.slack.com/methods. A method the code starts to
#: call must be added here, which makes its scope a decision.
SCOPE_OF_METHOD: dict[str, str | None] = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.delete": "chat:write",
    "chat.getPermalink": None,
    "views.open": None,
    "views.update": None,
    "views.push": None,
    "views.publish": None,
    "users.info": "users:read",  # include_locale needs nothing more
    "usergroups.users.list": "usergroups:read",
    "conversations.open": "im:write",  # the direct message personal alerts arrive in
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}
#: A file's `url_private` is fetched with the bot token, which needs files:read
#: (no Web API method: https://api.slack.com/types/file#authentication).
URL_PRIVATE_SCOPE = "files:read"
#: Methods called with another token than the bot's: Socket Mode's URL comes with the
#: app-level token (its scope, connections:write, is set when the token is made).
NOT_BOT_METHODS = {"apps.connections.open"}
#: Slash commands and shortcuts both need `commands`.
COMMANDS_SCOPE = "commands"

#: Inputs read from a view's state at submission; they dispatch nothing.
READ_FROM_STATE = {
    ids.SCHEDULE_EDIT_AT,
    ids.SCHEDULE_EDIT_TEXT,
    ids.REMIND_AFTER,
    ids.REMIND_NOTE,
    ids.CLOSE_KEEP,
    ids.COMPOSE_WHEN,
    ids.COMPOSE_AT,
    ids.COMPOSE_REMIND,
    ids.COMPOSE_FILES,
    ids.SEARCH_QUERY,
    ids.SEARCH_SCOPE,
    ids.SEARCH_STATUS,
    ids.SEARCH_SORT,
    ids.CLOSE_REASON,
    ids.COMPOSE_TEXT,
    ids.COMPOSE_TAG,
    ids.TAKEOVER_CONFIRM,
    ids.EDIT_FIRST_NAME,
    ids.EDIT_LAST_NAME,
    ids.EDIT_PHONE,
    ids.EDIT_EMAIL,
    ids.EDIT_TIME_ZONE,
}


def load(path: Path) -> dict[str, Any]:
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(manifest, dict)
    return manifest


@pytest.fixture(scope="module")
def http() -> dict[str, Any]:
    return load(HTTP_MANIFEST)


@pytest.fixture(scope="module")
def socket() -> dict[str, Any]:
    return load(SOCKET_MANIFEST)


# --- the manifests themselves --------------------------------------------------------


def test_http_manifest_sends_commands_interactivity_and_events_to_slack_events(
    http: dict[str, Any],
) -> None:
    settings = http["settings"]
    assert settings["socket_mode_enabled"] is False
    assert settings["interactivity"] == {"is_enabled": True, "request_url": REQUEST_URL}
    assert settings["event_subscriptions"]["request_url"] == REQUEST_URL
    for command in http["features"]["slash_commands"]:
        assert command["url"] == REQUEST_URL, command["command"]


def test_socket_manifest_is_the_http_one_in_socket_mode_without_urls(
    http: dict[str, Any], socket: dict[str, Any]
) -> None:
    expected = copy.deepcopy(http)
    for command in expected["features"]["slash_commands"]:
        del command["url"]
    del expected["settings"]["interactivity"]["request_url"]
    del expected["settings"]["event_subscriptions"]["request_url"]
    expected["settings"]["socket_mode_enabled"] = True
    assert socket == expected
    assert "YOUR-HOST" not in SOCKET_MANIFEST.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", [HTTP_MANIFEST, SOCKET_MANIFEST], ids=lambda p: p.name)
def test_manifest_fits_slack_s_limits(path: Path) -> None:
    """Limits Slack's manifest validation enforces (https://api.slack.com/reference/manifests)."""
    manifest = load(path)
    info = manifest["display_information"]
    assert 1 <= len(info["name"]) <= 35
    assert len(info["description"]) < 140
    assert 174 <= len(info["long_description"]) <= 4000
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", info["background_color"])
    features = manifest["features"]
    assert re.fullmatch(r"[a-z0-9._-]{1,80}", features["bot_user"]["display_name"])
    assert features["bot_user"]["always_online"] is True
    assert features["app_home"] == {
        "home_tab_enabled": True,
        "messages_tab_enabled": True,  # personal alerts are direct messages
        "messages_tab_read_only_enabled": False,
    }
    for shortcut in features["shortcuts"]:
        assert len(shortcut["name"]) <= 24, shortcut["name"]  # Slack refuses longer
        assert shortcut["type"] in ("message", "global")
        assert 1 <= len(shortcut["description"]) <= 80
    for command in features["slash_commands"]:
        assert re.fullmatch(r"/[a-z0-9_-]{1,31}", command["command"])
        assert command["description"] and command["usage_hint"]
        assert command["should_escape"] is False  # the code reads plain names and text
    assert manifest["settings"]["token_rotation_enabled"] is False
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_usage_hints_say_what_each_command_takes(http: dict[str, Any]) -> None:
    hints = {c["command"]: c["usage_hint"] for c in http["features"]["slash_commands"]}
    assert hints == {
        ids.FIND_CONTACT: "[query] [--all] [--open|--any] [--by-name]",
        ids.REOPEN: "<contact>",
        ids.FOLLOWUP: "<contact> [message]",
    }


# --- the listeners the code registers ----------------------------------------------


@dataclass
class RecordingApp:
    """Stands in for the Bolt app in `register_all`: notes what each listener answers to."""

    listeners: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))

    def _listener(self, kind: str, constraints: Any) -> Callable[[Any], Any]:
        self.listeners[kind].append(_constraint_id(kind, constraints))

        def register(function: Any) -> Any:
            return function

        return register

    def command(self, command: Any, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        return self._listener("command", command)

    def shortcut(self, constraints: Any, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        return self._listener("shortcut", constraints)

    def message_shortcut(self, callback_id: Any, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        return self._listener("shortcut", callback_id)

    def global_shortcut(self, callback_id: Any, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        return self._listener("shortcut", callback_id)

    def action(self, constraints: Any, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        return self._listener("action", constraints)

    def block_action(self, constraints: Any, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        return self._listener("action", constraints)

    def options(self, constraints: Any, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        return self._listener("options", constraints)

    def view(self, constraints: Any, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        return self._listener("view", constraints)

    def view_submission(self, constraints: Any, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        return self._listener("view", constraints)

    def view_closed(self, constraints: Any, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        return self._listener("view_closed", constraints)

    def event(self, event: Any, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        return self._listener("event", event)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a listener kind this test does not know yet: app.{name}")


def _constraint_id(kind: str, constraints: Any) -> str | re.Pattern[str]:
    """The id a listener answers to (a string or a pattern), from Bolt's constraints."""
    if isinstance(constraints, (str, re.Pattern)):
        return constraints
    if isinstance(constraints, dict):
        key = {"action": "action_id", "options": "action_id", "event": "type"}.get(
            kind, "callback_id"
        )
        value = constraints.get(key)
        if isinstance(value, (str, re.Pattern)):
            return value
    raise AssertionError(f"cannot tell what a {kind} listener answers to: {constraints!r}")


@pytest.fixture
async def registered(surface: Surface) -> dict[str, list[Any]]:
    app = RecordingApp()
    register_all(app, surface.deps.listeners)  # type: ignore[arg-type]
    return app.listeners


def strings(found: list[Any]) -> list[str]:
    return [f for f in found if isinstance(f, str)]


def patterns(found: list[Any]) -> list[re.Pattern[str]]:
    return [f for f in found if isinstance(f, re.Pattern)]


def test_every_manifest_command_and_shortcut_has_a_listener_and_the_reverse(
    http: dict[str, Any], registered: dict[str, list[Any]]
) -> None:
    declared_commands = [c["command"] for c in http["features"]["slash_commands"]]
    declared_shortcuts = [s["callback_id"] for s in http["features"]["shortcuts"]]

    assert sorted(declared_commands) == sorted(ids.COMMANDS)
    assert sorted(declared_shortcuts) == sorted(ids.SHORTCUTS)
    assert sorted(registered["command"]) == sorted(declared_commands)
    assert sorted(registered["shortcut"]) == sorted(declared_shortcuts)
    [shortcut] = http["features"]["shortcuts"]
    assert shortcut["callback_id"] == ids.FOLLOWUP_SHORTCUT and shortcut["type"] == "message"


def test_every_event_listener_is_subscribed_in_the_manifest_and_the_reverse(
    http: dict[str, Any], registered: dict[str, list[Any]]
) -> None:
    assert not patterns(registered["event"]), "an event listener by pattern: name the events"
    assert sorted(set(registered["event"])) == sorted(
        http["settings"]["event_subscriptions"]["bot_events"]
    )


def id_constants() -> dict[str, str]:
    """Every string constant in bot/slack/ids.py, by name."""
    return {
        name: value
        for name, value in vars(ids).items()
        if name.isupper() and isinstance(value, str)
    }


def test_every_action_and_view_id_has_a_listener_and_every_listener_is_in_ids(
    registered: dict[str, list[Any]],
) -> None:
    constants = set(id_constants().values())
    views = {v for n, v in id_constants().items() if n.endswith("_VIEW")}
    actions = (
        constants
        - set(ids.COMMANDS)
        - set(ids.SHORTCUTS)
        - set(ids.PATTERN_ACTIONS)
        - views
        - READ_FROM_STATE
    )
    registered_actions = strings(registered["action"] + registered["options"])
    registered_views = strings(registered["view"] + registered["view_closed"])

    assert sorted(actions - set(registered_actions)) == [], "ids without a listener"
    assert sorted(set(registered_actions) - actions) == [], "action listeners not in ids.py"
    assert sorted(views - set(registered_views)) == [], "views without a listener"
    assert sorted(set(registered_views) - views) == [], "view listeners not in ids.py"
    assert not READ_FROM_STATE & set(registered_actions), "an input with a listener"
    for prefix in ids.PATTERN_ACTIONS:  # compose_param_1, compose_param_2, …
        assert any(p.match(f"{prefix}_1") for p in patterns(registered["action"])), prefix
    for pattern in patterns(registered["action"] + registered["view"]):
        assert any(pattern.match(f"{prefix}_1") for prefix in ids.PATTERN_ACTIONS), (
            f"a listener pattern that ids.PATTERN_ACTIONS does not name: {pattern.pattern}"
        )
        assert not any(pattern.match(constant) for constant in constants), (
            f"a listener pattern that also catches a constant id: {pattern.pattern}"
        )


# --- scopes --------------------------------------------------------------------------


def source_files() -> Iterator[Path]:
    for package in ("bot", "handlers"):
        yield from sorted((ROOT / package).rglob("*.py"))


def web_api_methods_called() -> dict[str, set[str]]:
    """Slack Web API methods named in the code → the files naming them.

    A method is either an `AsyncWebClient` method called by attribute
    (`client.chat_postMessage(...)`) or a method name in a string
    (`api_call("chat.update", ...)`).
    """
    found: dict[str, set[str]] = defaultdict(set)
    for path in source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _is_web_api_method(node.attr):
                if node.attr not in _NOT_METHODS:
                    found[_dotted(node.attr)].add(where)
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"[a-z]+(\.[a-zA-Z]+)+", node.value)
                and _is_web_api_method(node.value.replace(".", "_"))
            ):
                found[node.value].add(where)
    return found


#: AsyncWebClient attributes that are not Web API methods.
_NOT_METHODS = {"api_call", "base_url", "retry_handlers", "token", "session", "headers"}


def _is_web_api_method(name: str) -> bool:
    return bool(re.fullmatch(r"[a-z]+(_[a-zA-Z]+)+", name)) and callable(
        getattr(AsyncWebClient, name, None)
    )


def _dotted(attribute: str) -> str:
    # chat_postMessage → chat.postMessage; usergroups_users_list → usergroups.users.list
    return attribute.replace("_", ".")


def test_bot_scopes_are_exactly_what_the_code_calls_need(http: dict[str, Any]) -> None:
    called = web_api_methods_called()
    unknown = sorted(set(called) - set(SCOPE_OF_METHOD) - NOT_BOT_METHODS)
    assert unknown == [], f"Web API methods with no scope decided here: {unknown}"
    needed = {SCOPE_OF_METHOD[m] for m in called if m not in NOT_BOT_METHODS}
    needed = {scope for scope in needed if scope is not None} | {COMMANDS_SCOPE}
    if any("url_private" in path.read_text(encoding="utf-8") for path in source_files()):
        needed.add(URL_PRIVATE_SCOPE)

    assert sorted(http["oauth_config"]["scopes"]["bot"]) == sorted(needed)
    assert "user" not in http["oauth_config"]["scopes"]  # no user token, ever


def test_the_scope_finder_sees_the_calls_it_should() -> None:
    """The scan above is not vacuous: calls known to exist are found where they are."""
    called = web_api_methods_called()
    assert "handlers/commands/find_contact.py" in called["views.open"]
    assert "bot/slack/threads.py" in called["chat.postMessage"]  # api_call("chat.postMessage")
    assert "bot/slack/people.py" in called["users.info"]
    assert "bot/slack/people.py" in called["usergroups.users.list"]
