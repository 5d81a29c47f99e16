"""Block Kit for contacts: search results, a contact card, "which one did you mean?".

Mobile first: one short section per contact, its windows in a context line
each, and buttons (Reopen, Follow up, Open thread). Built with slack-sdk's
models; texts from the catalogue.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain.channels import CHANNEL_LABELS
from bot.domain.local_time import customer_zone
from bot.domain.models import Contact, ConversationStatus
from bot.domain.windows import Decision
from bot.services.directory import FindArgs, no_results_hint
from bot.services.finding import Found
from bot.slack import ids
from bot.slack.blocks.parts import (
    CONTEXT_ELEMENTS_MAX,
    SECTION_TEXT_MAX,
    button,
    context_block,
    section,
)
from bot.slack.gate import reads_payload
from bot.slack.i18n import t
from bot.slack.links import thread_button
from bot.slack.payloads import BlockTemplate, Slot, compact_json
from bot.slack.reach_text import unreachable_text
from bot.slack.render import ago, clock_time, escape, window_line
from bot.store.search import Scope, SortOrder

#: Longest query kept in a "More" button's value (Slack allows 2,000 characters).
MAX_PACKED_QUERY = 500
#: A contact's id in its card's buttons: far longer than any (`<partition>-<sequence>`).
_CONTACT_ID = Slot("contact", 200)


@dataclass(frozen=True)
class ContactView:
    """A contact with its window decisions, ready to show."""

    contact: Contact
    decisions: Sequence[Decision]


def contact_summary(contact: Contact, now: datetime, lang: str) -> str:
    """Two short lines: name and channels; status, assignee, last customer message."""
    channels = ", ".join(CHANNEL_LABELS[c] for c in contact.channels) or "—"
    conv = contact.conversation
    assignee = f"<@{conv.assignee}>" if conv.assignee else t("contact.unassigned", lang)
    head = t("contact.head", lang, name=escape(contact.display_name), channels=channels)
    state = t(
        "contact.state",
        lang,
        status=t(f"status.{conv.status.value}", lang),
        assignee=assignee,
        last=ago(conv.last_customer_message_at, now, lang),
    )
    zone = customer_zone(set_zone=contact.time_zone, phone=contact.phone)
    if zone is not None:
        local = clock_time(now.astimezone(zone))
        state += " · " + t("contact.local_time", lang, time=local)
    return f"{head}\n{state}"[:SECTION_TEXT_MAX]


def contact_buttons(contact: Contact, agent: str, lang: str) -> Block:
    """A card's buttons: Reopen (unless it is open and the agent's), Follow up,
    Open thread (when it has one), Edit."""
    conv = contact.conversation
    reopen = conv.status is ConversationStatus.CLOSED or conv.assignee != agent
    row = _buttons(reopen, bool(conv.thread_ts), lang)
    return row.filled({_CONTACT_ID: contact.id})


@cache
def _buttons(reopen: bool, thread: bool, lang: str) -> BlockTemplate:
    return BlockTemplate(button_row(_CONTACT_ID.placeholder, reopen, thread, lang), [_CONTACT_ID])


def button_row(contact_id: str, reopen: bool, thread: bool, lang: str) -> ActionsBlock:
    """`contact_buttons` as models (its template, made once per shape and language)."""
    elements = []
    if reopen:
        elements.append(button(t("button.reopen", lang), ids.CONTACT_REOPEN, contact_id))
    elements.append(
        button(t("button.followup", lang), ids.CONTACT_FOLLOWUP, contact_id, style="primary")
    )
    if thread:
        elements.append(thread_button(contact_id, None, lang))  # the listener finds the link
    elements.append(button(t("button.edit", lang), ids.CONTACT_EDIT, contact_id))
    return ActionsBlock(block_id=f"c:{contact_id}", elements=elements)


def channel_lines(contact: Contact, decisions: Sequence[Decision], lang: str) -> list[str]:
    """Each channel's state in words: what its window allows now, or, where the
    customer cannot be reached there, why and since when (WhatsApp's stop of
    marketing messages refuses only those: both lines)."""
    lines: list[str] = []
    for decision in decisions:
        if contact.reachable(decision.channel):
            lines.append(window_line(decision, lang))
        unreachable = contact.unreachable(decision.channel)
        if unreachable is not None:
            lines.append(unreachable_text(decision.channel, unreachable, lang))
    return lines


def windows_context(contact: Contact, decisions: Sequence[Decision], lang: str) -> Block | None:
    """The contact's channels in words, one context element each (Slack keeps 10)."""
    lines = channel_lines(contact, decisions, lang)[:CONTEXT_ELEMENTS_MAX]
    if not lines:
        return None
    return context_block(*lines)


def contact_blocks(view: ContactView, agent: str, now: datetime, lang: str) -> list[Block]:
    """A contact's card: its summary, its windows, its buttons."""
    blocks: list[Block] = [section(contact_summary(view.contact, now, lang))]
    windows = windows_context(view.contact, view.decisions, lang)
    if windows is not None:
        blocks.append(windows)
    blocks.append(contact_buttons(view.contact, agent, lang))
    return blocks


def pack_page(args: FindArgs, offset: int) -> str:
    """A "More" button's value: the search and where the next page starts
    (`compact_json`: tests/handlers/test_commands.py compares it with the stdlib's)."""
    packed = {
        "q": args.query[:MAX_PACKED_QUERY],
        "sc": args.scope.value,
        "st": args.status.value if args.status else "any",
        "so": args.sort.value,
        "o": offset,
    }
    return compact_json(packed)


@reads_payload
def unpack_page(value: str) -> tuple[FindArgs, int]:
    data = json.loads(value)
    status = None if data["st"] == "any" else ConversationStatus(data["st"])
    args = FindArgs(
        query=str(data["q"]), scope=Scope(data["sc"]), status=status, sort=SortOrder(data["so"])
    )
    return args, int(data["o"])


def describe_filters(args: FindArgs, lang: str) -> str:
    status = t(f"filter.{args.status.value if args.status else 'any'}", lang)
    return t(
        "search.filters",
        lang,
        scope=t(f"scope.{args.scope.value}", lang),
        status=status,
        sort=t(f"sort.{args.sort.value}", lang),
    )


def found_message(
    found: Found, *, agent: str, offset: int, now: datetime, lang: str
) -> tuple[str, list[Block]]:
    """`results_message` for a page `ContactFinder.find` found."""
    views = [ContactView(c, d) for c, d in zip(found.contacts, found.decisions, strict=True)]
    return results_message(
        found.args,
        views,
        widened_from=found.widened_from,
        agent=agent,
        offset=offset,
        next_offset=found.next_offset,
        truncated=found.truncated,
        now=now,
        lang=lang,
    )


def views_of(
    contacts: Sequence[Contact], decisions: Sequence[Sequence[Decision]]
) -> list[ContactView]:
    """Contacts with their window decisions, ready to render."""
    return [ContactView(c, d) for c, d in zip(contacts, decisions, strict=True)]


def results_message(
    args: FindArgs,
    views: Sequence[ContactView],
    *,
    agent: str,
    offset: int,
    next_offset: int | None,
    truncated: bool,
    now: datetime,
    lang: str,
    widened_from: FindArgs | None = None,
) -> tuple[str, list[Block]]:
    """An ephemeral page of `/find-contact` results (text for notifications, blocks).

    `widened_from`: the agent's own search found nothing, and these are what
    the wider `args` (All inboxes, any status) found: the header says so.
    """
    filters = describe_filters(args, lang)
    if not views:
        key = "search.none_more" if offset else "search.none"
        text = t(key, lang, query=escape(args.query), filters=filters)
        hint = t(no_results_hint(args), lang)
        return text, [
            SectionBlock(text=MarkdownTextObject(text=text)),
            ContextBlock(elements=[MarkdownTextObject(text=hint)]),
        ]
    first, last = offset + 1, offset + len(views)
    if widened_from is not None:
        text = t(
            "search.widened",
            lang,
            query=escape(args.query),
            filters=describe_filters(widened_from, lang),
        )
    else:
        text = t(
            "search.header",
            lang,
            query=escape(args.query),
            first=first,
            last=last,
            filters=filters,
        )
    blocks: list[Block] = [context_block(text)]
    for view in views:
        blocks.extend(contact_blocks(view, agent, now, lang))
    footer: list[ButtonElement] = []
    if next_offset is not None:
        footer.append(button(t("button.more", lang), ids.SEARCH_MORE, pack_page(args, next_offset)))
    if footer:
        blocks.append(ActionsBlock(block_id="search:more", elements=footer))
    if truncated:
        blocks.append(context_block(t("search.truncated", lang)))
    return text, blocks


def choices_message(
    query: str,
    views: Sequence[ContactView],
    *,
    more: bool,
    action_id: str,
    now: datetime,
    lang: str,
    message: str = "",
) -> tuple[str, list[Block]]:
    """Several contacts match `query`: one button each to pick the right one.

    `action_id` says what picking does (`ids.CONTACT_CHOOSE_REOPEN` or
    `ids.CONTACT_CHOOSE_FOLLOWUP`); the button's value is JSON
    `{"c": contact id, "m": message}`, `m` the text of a one-line `/followup`.
    """
    text = t("lookup.ambiguous", lang, query=escape(query))
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=text))]
    for view in views:
        value = json.dumps(
            {"c": view.contact.id, "m": message[:1500]},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=contact_summary(view.contact, now, lang)),
                accessory=button(t("button.choose", lang), action_id, value),
            )
        )
    if more:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=t("lookup.more_matches", lang))])
        )
    return text, blocks


def text_message(text: str) -> tuple[str, list[Block]]:
    return text, [section(text)]
