"""The house's rules for the Slack glue, checked on the code (STYLE.md "Thin listeners"):
listeners reach services only, never a store or Redis, and never each other; the
Slack modules never import the listeners; the composition root hands each listener
module only what its `register` names."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from pathlib import Path

import pytest

import handlers
from bot.app import ListenerServices

ROOT = Path(__file__).resolve().parents[2]
LISTENER_FILES = sorted(
    path
    for package in handlers.SLACK_PACKAGES
    for path in (ROOT / "handlers" / package).glob("*.py")
    if path.name != "__init__.py"
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize(
    "path",
    [*LISTENER_FILES, ROOT / "handlers" / "webhooks.py", ROOT / "handlers" / "payloads.py"],
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_a_listener_imports_no_store_no_redis_and_no_other_listener(path: Path) -> None:
    modules = imported_modules(path)
    assert not [m for m in modules if m.startswith(("bot.store", "redis"))]
    assert not [m for m in modules if m.startswith("handlers") and m != "handlers.payloads"]


def test_the_slack_modules_never_import_the_listeners() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "bot" / "slack").rglob("*.py")
        if any(m == "handlers" or m.startswith("handlers.") for m in imported_modules(path))
    ]
    assert offenders == []


def test_the_listeners_services_hold_no_store_and_no_redis() -> None:
    hints = inspect.get_annotations(ListenerServices, eval_str=True)
    for field in dataclasses.fields(ListenerServices):
        module = getattr(hints[field.name], "__module__", "")
        assert not module.startswith(("bot.store", "redis")), field.name


def test_each_listener_module_names_only_services_the_root_has() -> None:
    known = {field.name for field in dataclasses.fields(ListenerServices)}
    for module in handlers.listener_modules():
        names = set(inspect.signature(module.register).parameters) - {"app"}
        assert names <= known, (module.__name__, names - known)
        assert names, module.__name__  # a listener uses at least one service


@pytest.mark.parametrize("path", LISTENER_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_listener_module_names_only_services_it_uses(path: Path) -> None:
    [register] = [
        node
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.FunctionDef) and node.name == "register"
    ]
    named = [a.arg for a in register.args.args + register.args.kwonlyargs if a.arg != "app"]
    used = {node.id for node in ast.walk(register) if isinstance(node, ast.Name)}
    assert [name for name in named if name not in used] == []


REDIS_COMMAND = re.compile(
    r"(?<![A-Za-z0-9])_?redis\.(?:get|set|delete|exists|expire|pexpire|incr\w*|h\w+|z\w+|x\w+|s\w+|l\w+"
    r"|pipeline|eval\w*|script\w*|publish)\("
)


def test_redis_commands_are_sent_by_the_store_only() -> None:
    """STYLE.md: Redis behind repositories (bot/store)."""
    sending = {
        str(path.relative_to(ROOT))
        for folder in ("bot", "handlers")
        for path in (ROOT / folder).rglob("*.py")
        if not path.is_relative_to(ROOT / "bot" / "store")
        and REDIS_COMMAND.search(path.read_text())
    }
    assert sending == set()
