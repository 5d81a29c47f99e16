"""Small Block Kit pieces the builders share: texts within Slack's limits, buttons, quotes."""

from __future__ import annotations

from functools import cache

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.services.compose_checks import FieldProblem
from bot.slack.i18n import t
from bot.slack.payloads import BlockTemplate, Slot
from bot.slack.render import escape, reason_params

#: Slack's limits for a section's text and a context element's.
SECTION_TEXT_MAX = 3000
CONTEXT_TEXT_MAX = 2000
#: Slack's limit of elements in a context block.
CONTEXT_ELEMENTS_MAX = 10
#: A quoted message or preview in an answer.
QUOTE_MAX = 1500
#: Slack's limits: plain-text input length, select options, option text,
#: an input's label and placeholder.
INPUT_MAX = 3000
STATIC_OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
LABEL_MAX = 2000
PLACEHOLDER_MAX = 150


def button(text: str, action_id: str, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=text[:75], emoji=True),
        action_id=action_id,
        value=value,
        style=style,
    )


def plain_text(text: str) -> PlainTextObject:
    return PlainTextObject(text=text, emoji=True)


def markdown(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text[:SECTION_TEXT_MAX])


def bold(text: str) -> str:
    return f"*{text}*"


#: The texts of `section` and `context_block`, filled into templates made once.
_SECTION_TEXT = Slot("text", SECTION_TEXT_MAX)
_CONTEXT_LINES = tuple(Slot(f"line{n}", CONTEXT_TEXT_MAX) for n in range(CONTEXT_ELEMENTS_MAX))


def section(text: str, block_id: str | None = None) -> Block:
    """A section of mrkdwn text, cut to Slack's limit."""
    text = text[:SECTION_TEXT_MAX]
    if not text:  # the model's own JSON (it leaves the empty text out)
        return SectionBlock(block_id=block_id, text=markdown(text))
    return _section(block_id).filled({_SECTION_TEXT: text})


@cache
def _section(block_id: str | None) -> BlockTemplate:
    model = SectionBlock(block_id=block_id, text=markdown(_SECTION_TEXT.placeholder))
    return BlockTemplate(model, [_SECTION_TEXT])


def context_block(*lines: str) -> Block:
    """A context line of mrkdwn texts, each cut to Slack's limits (ten at most)."""
    texts = [line[:CONTEXT_TEXT_MAX] for line in lines[:CONTEXT_ELEMENTS_MAX]]
    if not texts or not all(texts):
        return ContextBlock(elements=[markdown(text) for text in texts])
    return _context(len(texts)).filled(dict(zip(_CONTEXT_LINES, texts, strict=False)))


@cache
def _context(count: int) -> BlockTemplate:
    slots = _CONTEXT_LINES[:count]
    model = ContextBlock(elements=[markdown(slot.placeholder) for slot in slots])
    return BlockTemplate(model, slots)


def quoted(text: str) -> str:
    body = escape(text[:QUOTE_MAX]) + ("…" if len(text) > QUOTE_MAX else "")
    return "\n".join(f">{line}" for line in body.splitlines() or [""])


def number_text(value: int) -> str:
    return f"{value:,}"


def problem_text(problem: FieldProblem, lang: str) -> str:
    """A composer problem (or a window reason it carries) in words."""
    params = reason_params(problem.params, lang)
    words = {k: number_text(v) if isinstance(v, int) else v for k, v in params.items()}
    if "input" in problem.params:
        # A template input other than a body parameter: named as its label reads.
        kind = str(problem.params["input"])
        label = str(problem.params.get("label", ""))
        media = str(problem.params.get("media", ""))
        key = f"compose.input.header_media.{media}" if media else f"compose.input.{kind}"
        words["label"] = t(key, lang, label=label)
    return t(problem.key, lang, **words)
