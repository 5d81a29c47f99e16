"""A Slack message's text (mrkdwn) as the customer should read it."""

from __future__ import annotations

import re

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def plain_text_of(mrkdwn: str) -> str:
    """An agent's Slack message as plain text: links and mentions unwrapped, entities undone.

    `<https://x.example|x.example>` → `https://x.example`; `<mailto:a@b.c|a@b.c>`
    → `a@b.c`; `<@U123|sara>` → `@sara`; `&lt;` → `<`.
    """

    def unwrap(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target[:1] in "@#!":
            # Mentions and special words: the label when Slack gave one.
            shown = label or target[1:].split("^")[0]
            return f"{target[0] if target[0] != '!' else '@'}{shown}"
        if target.startswith("mailto:"):
            return label or target[len("mailto:") :]
        if label and label not in target:
            return f"{label} ({target})"
        return target

    text = _LINK.sub(unwrap, mrkdwn)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
