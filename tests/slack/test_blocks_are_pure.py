"""Block Kit builders are pure: no module under `bot/slack/blocks/` reaches for I/O.

STYLE.md: one builder module per surface; how a view or message is sent is the
caller's business. Checked on each module's own imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BLOCKS = Path(__file__).resolve().parents[2] / "bot" / "slack" / "blocks"
#: Imports that mean I/O (or the listeners): none of them belongs in a builder.
FORBIDDEN = ("aiohttp", "redis", "slack_sdk.web", "slack_bolt", "handlers", "bot.store.connection")


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


MODULES = sorted(BLOCKS.glob("*.py"))


def test_the_builders_are_found() -> None:
    assert {"compose_modal.py", "close_modal.py", "answers.py", "threads.py"} <= {
        m.name for m in MODULES
    }


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_a_builder_module_imports_no_io(module: Path) -> None:
    assert sorted(n for n in imported(module) if forbidden(n)) == []
