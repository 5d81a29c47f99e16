"""Personal alerts' direct messages: a headline, what matters, buttons to act.

Rendered when sent, in the recipient's language (`bot.slack.alerts` sends them).
"""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain.messages import OutboundMessage
from bot.domain.models import Contact, MessageStatus, from_epoch
from bot.domain.windows import Decision, PolicySettings, SendMode, after_free_text
from bot.services.alerts import Alert, AlertKind
from bot.slack import ids
from bot.slack.blocks.parts import button
from bot.slack.blocks.threads import quote
from bot.slack.i18n import t
from bot.slack.links import thread_button
from bot.slack.render import channel_label, duration, escape, stored_reason_text, window_line


def _after_close(mode: SendMode, lang: str) -> str:
    """What may still be sent once the window's free text has closed."""
    if mode is SendMode.TEMPLATE:
        return t("alerts.after.template", lang)
    if mode is SendMode.MESSAGE_TAG:
        return t("alerts.after.message_tag", lang)
    return t("alerts.after.nothing", lang)


def alert_message(
    alert: Alert,
    contact: Contact,
    *,
    message: OutboundMessage | None,
    decision: Decision | None,
    link: str | None,
    now: datetime,
    lang: str,
    policy: PolicySettings,
) -> tuple[str, list[Block]]:
    """The direct message for one alert: a headline, what matters, buttons to act."""
    name = escape(contact.display_name)
    channel = channel_label(alert.channel) if alert.channel else "—"
    body: list[str] = []
    context: list[str] = []
    if alert.kind is AlertKind.CUSTOMER_WROTE:
        head = t("alerts.customer_wrote", lang, name=name, channel=channel)
        if alert.preview:
            body.append(quote(alert.preview))
        if decision is not None:
            context.append(window_line(decision, lang))
    elif alert.kind is AlertKind.MESSAGE_FAILED:
        assert message is not None
        if message.status is MessageStatus.OUTSIDE_WINDOW:
            head = t("alerts.message_outside_window", lang, name=name, channel=channel)
        elif message.reason:
            reason = stored_reason_text(message.reason, lang)
            head = t("alerts.message_failed", lang, name=name, channel=channel, reason=reason)
        else:
            head = t("alerts.message_failed_no_reason", lang, name=name, channel=channel)
        template = message.content.template
        shown = message.content.text or (template.name if template else "")
        if shown:
            body.append(quote(shown))
        if decision is not None:
            context.append(t("alerts.now_possible", lang, window=window_line(decision, lang)))
    else:
        closes = from_epoch(alert.closes_at) or now
        head = t(
            "alerts.window_closing",
            lang,
            name=name,
            channel=channel,
            closes_in=duration((closes - now).total_seconds(), lang),
        )
        assert alert.channel is not None
        start = contact.conversation.last_inbound_at.get(alert.channel)
        body.append(_after_close(after_free_text(alert.channel, start, closes, policy), lang))
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text="\n".join([head, *body])[:3000]))
    ]
    if context:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=c[:2000]) for c in context]))
    follow_up = button(t("button.followup", lang), ids.CONTACT_FOLLOWUP, contact.id, "primary")
    blocks.append(
        ActionsBlock(
            block_id=f"alert:{contact.id}",
            elements=[follow_up, thread_button(contact.id, link, lang)],
        )
    )
    return head, blocks
