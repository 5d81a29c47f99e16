"""App Home's views: the agent's desk (and the team's for managers), and the language choice.

Mobile first and within Slack's 100 blocks a view: each list is bounded
(`HomeLimits`) and says "and N more". Open-thread buttons are links straight
to the thread (`ThreadLinks`), one tap on a phone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.models import Contact
from bot.domain.windows import SendMode
from bot.services.home import CLOSING_HORIZON, ClosingWindow, Home, Team
from bot.slack import ids
from bot.slack.blocks.contact_blocks import contact_summary, windows_context
from bot.slack.blocks.parts import CONTEXT_TEXT_MAX, SECTION_TEXT_MAX, button
from bot.slack.i18n import LANGUAGE_NAMES, LANGUAGES, t
from bot.slack.links import thread_button
from bot.slack.render import ago, channel_label, duration, escape

#: The language picker's value for "no choice: Slack's language, else the default".
AUTO = "auto"

_AFTER = {
    SendMode.TEMPLATE: "home.after.template",
    SendMode.MESSAGE_TAG: "home.after.message_tag",
}


def _text(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text[:SECTION_TEXT_MAX])


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text[:CONTEXT_TEXT_MAX])])


def thread_link(contact: Contact, links: Mapping[str, str], lang: str) -> list[ButtonElement]:
    """*Open thread* as a link, when the conversation has a thread Slack linked us to.

    Without one there is nothing to open (a click on Home has no message to
    answer in), so no button.
    """
    ts = contact.conversation.thread_ts
    link = links.get(ts) if ts else None
    return [thread_button(contact.id, link, lang)] if link else []


def close_button(contact: Contact, lang: str) -> ButtonElement:
    """*Close*, after Slack's own confirmation dialog (no modal, two taps)."""
    name = escape(contact.display_name)
    return ButtonElement(
        text=PlainTextObject(text=t("button.close", lang), emoji=True),
        action_id=ids.CONTACT_CLOSE,
        value=contact.id,
        confirm=ConfirmObject(
            title=t("home.close.title", lang)[:100],
            text=t("home.close.text", lang, name=name)[:300],
            confirm=t("button.close", lang)[:30],
            deny=t("button.cancel", lang)[:30],
        ),
    )


def _followup(contact: Contact, lang: str) -> ButtonElement:
    return button(t("button.followup", lang), ids.CONTACT_FOLLOWUP, contact.id, style="primary")


def controls(picked: str | None, lang: str) -> list[Block]:
    """The language choice (English / العربية, or Slack's language) and *Refresh*."""
    options = [Option(value=AUTO, label=t("home.language.auto", lang))] + [
        Option(value=code, label=LANGUAGE_NAMES[code]) for code in LANGUAGES
    ]
    chosen = next(o for o in options if o.value == (picked or AUTO))
    return [
        ActionsBlock(
            block_id="home:controls",
            elements=[
                StaticSelectElement(
                    action_id=ids.HOME_LANGUAGE,
                    placeholder=t("home.language.placeholder", lang),
                    options=options,
                    initial_option=chosen,
                ),
                button(t("home.refresh", lang), ids.HOME_REFRESH, "refresh"),
            ],
        ),
        _context(t("home.language.hint", lang)),
    ]


def _more(more: int, lang: str) -> list[Block]:
    return [_context(t("home.more", lang, count=more))] if more else []


def open_section(home: Home, links: Mapping[str, str], now: datetime, lang: str) -> list[Block]:
    blocks: list[Block] = [
        DividerBlock(),
        SectionBlock(text=_text(t("home.open.title", lang, count=home.open.total))),
    ]
    if not home.open.items:
        blocks.append(_context(t("home.open.none", lang)))
    for conversation in home.open.items:
        contact = conversation.contact
        blocks.append(SectionBlock(text=_text(contact_summary(contact, now, lang))))
        windows = windows_context(contact, conversation.decisions, lang)
        if windows is not None:
            blocks.append(windows)
        blocks.append(
            ActionsBlock(
                block_id=f"open:{contact.id}",
                elements=[
                    _followup(contact, lang),
                    *thread_link(contact, links, lang),
                    close_button(contact, lang),
                ],
            )
        )
    return blocks + _more(home.open.more, lang)


def closing_line(window: ClosingWindow, now: datetime, lang: str, *, bold: bool = True) -> str:
    name = escape(window.contact.display_name)
    return t(
        "home.closing.line" if bold else "home.team.closing",
        lang,
        name=name,
        channel=channel_label(window.channel),
        closes_in=duration((window.closes_at - now).total_seconds(), lang),
        after=t(_AFTER.get(window.after, "home.after.nothing"), lang),
    )


def closing_section(home: Home, links: Mapping[str, str], now: datetime, lang: str) -> list[Block]:
    hours = int(CLOSING_HORIZON.total_seconds() // 3600)
    blocks: list[Block] = [
        DividerBlock(),
        SectionBlock(text=_text(t("home.closing.title", lang, hours=hours))),
    ]
    if not home.closing.items:
        blocks.append(_context(t("home.closing.none", lang, hours=hours)))
    for window in home.closing.items:
        contact = window.contact
        blocks.append(SectionBlock(text=_text(closing_line(window, now, lang))))
        blocks.append(
            ActionsBlock(
                block_id=f"closing:{contact.id}:{window.channel.value}",
                elements=[
                    _followup(contact, lang),
                    *thread_link(contact, links, lang),
                ],
            )
        )
    return blocks + _more(home.closing.more, lang)


def closed_section(home: Home, links: Mapping[str, str], now: datetime, lang: str) -> list[Block]:
    blocks: list[Block] = [DividerBlock(), SectionBlock(text=_text(t("home.closed.title", lang)))]
    if not home.closed.items:
        blocks.append(_context(t("home.closed.none", lang)))
    for contact in home.closed.items:
        blocks.append(SectionBlock(text=_text(contact_summary(contact, now, lang))))
        blocks.append(
            ActionsBlock(
                block_id=f"closed:{contact.id}",
                elements=[
                    button(t("button.reopen", lang), ids.CONTACT_REOPEN, contact.id),
                    _followup(contact, lang),
                    *thread_link(contact, links, lang),
                ],
            )
        )
    return blocks + _more(home.closed.more, lang)


def team_section(team: Team | None, now: datetime, lang: str) -> list[Block]:
    """Managers: each agent's open conversations and closing windows, in short lines."""
    if team is None:
        return []
    blocks: list[Block] = [
        DividerBlock(),
        SectionBlock(
            text=_text(t("home.team.title", lang, agents=team.total, count=team.open_total))
        ),
    ]
    if not team.items:
        blocks.append(_context(t("home.team.none", lang)))
    for desk in team.items:
        lines = [t("home.team.agent", lang, agent=f"<@{desk.agent}>", count=desk.open.total)]
        for contact in desk.open.items:
            lines.append(
                t(
                    "home.team.conversation",
                    lang,
                    name=escape(contact.display_name),
                    last=ago(contact.conversation.last_customer_message_at, now, lang),
                )
            )
        if desk.open.more:
            lines.append(t("home.more", lang, count=desk.open.more))
        lines += [closing_line(w, now, lang, bold=False) for w in desk.closing.items]
        if desk.closing.more:
            lines.append(t("home.team.more_windows", lang, count=desk.closing.more))
        blocks.append(SectionBlock(text=_text("\n".join(lines))))
    if team.more:
        blocks.append(_context(t("home.team.more_agents", lang, count=team.more)))
    return blocks


#: Slack's limit on a Home tab's blocks.
HOME_BLOCKS_MAX = 100


def home_view(
    home: Home,
    *,
    links: Mapping[str, str],
    picked: str | None,
    now: datetime,
    lang: str,
    waiting: Sequence[Block] = (),
    team_waiting: Sequence[Block] = (),
) -> View:
    """An agent's Home tab (with the team view for managers); `waiting` is what
    the agent has scheduled (`bot.slack.blocks.schedule.waiting_blocks`)."""
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=t("home.title", lang), emoji=True)),
        *controls(picked, lang),
        *waiting,
        *open_section(home, links, now, lang),
        *closing_section(home, links, now, lang),
        *closed_section(home, links, now, lang),
        *team_section(home.team, now, lang),
        *team_waiting,
    ]
    return View(type="home", blocks=blocks[:HOME_BLOCKS_MAX])


def team_view(team: Team, now: datetime, lang: str, team_waiting: Sequence[Block] = ()) -> View:
    """A manager who is not an agent: the team, to follow (nothing to act on)."""
    return View(
        type="home",
        blocks=[
            HeaderBlock(text=PlainTextObject(text=t("home.title", lang), emoji=True)),
            *team_section(team, now, lang),
            *team_waiting,
        ][:HOME_BLOCKS_MAX],
    )


def not_agent_view(lang: str) -> View:
    """Someone who is not an agent (AGENTS): a polite page, nothing to act on."""
    return View(
        type="home",
        blocks=[
            HeaderBlock(text=PlainTextObject(text=t("home.title", lang), emoji=True)),
            SectionBlock(text=_text(t("home.not_agent", lang))),
        ],
    )
