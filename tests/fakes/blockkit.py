"""Slack's Block Kit limits, checked on everything the app sends.

Every block is parsed with slack-sdk's models (`Block.parse`, `View`) and
validated (`validate_json`, which enforces the per-element limits slack-sdk
knows: text lengths, options per select, elements per actions block, …); on
top, the limits slack-sdk does not check on its own:
https://api.slack.com/reference/block-kit/blocks (50 blocks per message,
100 per modal or Home tab), https://api.slack.com/reference/surfaces/views
(title and buttons 24 characters, private_metadata 3,000), and the 40,000
characters of a message's `text`.
"""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MESSAGE_TEXT = 40_000
VIEW_TITLE = 24
PRIVATE_METADATA = 3000
BUTTON_VALUE = 2000


def _blocks(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        value = json.loads(value)
    return list(value or [])


def check_blocks(blocks: list[dict[str, Any]], limit: int) -> list[str]:
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks (at most {limit})")
    for raw in blocks:
        block = Block.parse(raw)
        if block is None:
            problems.append(f"unknown block {raw.get('type')}")
            continue
        try:
            block.validate_json()
        except SlackObjectFormationError as error:
            problems.append(f"{raw.get('type')}: {error}")
        for element in [*raw.get("elements", []), raw.get("accessory") or {}]:
            if isinstance(element, dict) and len(str(element.get("value", ""))) > BUTTON_VALUE:
                problems.append("a button value over 2,000 characters")
    return problems


def check_view(view: dict[str, Any]) -> list[str]:
    problems = check_blocks(_blocks(view.get("blocks")), VIEW_BLOCKS)
    try:
        View(**{k: v for k, v in view.items() if k not in ("id", "hash")}).validate_json()
    except SlackObjectFormationError as error:
        problems.append(f"view: {error}")
    for name in ("title", "submit", "close"):
        text = (view.get(name) or {}).get("text", "")
        if len(text) > VIEW_TITLE:
            problems.append(f"view {name} over {VIEW_TITLE} characters")
    if len(view.get("private_metadata") or "") > PRIVATE_METADATA:
        problems.append("private_metadata over 3,000 characters")
    return problems


def check_payload(method: str, args: dict[str, Any]) -> list[str]:
    """Problems Slack would reject `args` of `method` for (empty: fine)."""
    problems: list[str] = []
    if "view" in args:
        view = args["view"]
        problems += check_view(json.loads(view) if isinstance(view, str) else view)
    if "blocks" in args:
        problems += check_blocks(_blocks(args["blocks"]), MESSAGE_BLOCKS)
    if len(str(args.get("text") or "")) > MESSAGE_TEXT:
        problems.append("text over 40,000 characters")
    return problems
