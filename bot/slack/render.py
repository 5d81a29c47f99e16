"""Words for what the policy and the store say: window states, durations, reasons.

Shared by every view (search results, compose modal, App Home, alerts): the
policy returns catalogue keys with plain parameters (`closes_in_seconds`,
`channel`), and these functions turn them into the agent's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.domain.channels import CHANNEL_LABELS, Channel
from bot.domain.windows import Decision, Reason, parse_stored_reason
from bot.slack.i18n import t

_MINUTE, _HOUR, _DAY = 60, 3600, 86400


def duration(seconds: int | float, lang: str) -> str:
    """A length of time in its largest whole unit: "3 d", "5 h", "12 min", "40 s"."""
    seconds = max(0, int(seconds))
    if seconds >= _DAY:
        return t("duration.days", lang, n=seconds // _DAY)
    if seconds >= _HOUR:
        return t("duration.hours", lang, n=seconds // _HOUR)
    if seconds >= _MINUTE:
        return t("duration.minutes", lang, n=seconds // _MINUTE)
    return t("duration.seconds", lang, n=seconds)


def channel_label(value: str | Channel) -> str:
    try:
        return CHANNEL_LABELS[Channel(value)]
    except ValueError:
        return str(value)


def reason_params(params: Mapping[str, str | int], lang: str) -> dict[str, str | int]:
    """The policy's parameters as the catalogue's: durations in words, channel
    labels; a `reason_key` (a catalogue key) and a `reason` stored with a
    message (`stored_reason`) become `reason` in words."""
    words: dict[str, str | int] = {}
    for name, value in params.items():
        if name == "closes_in_seconds":
            words["closes_in"] = duration(int(value), lang)
        elif name == "closed_seconds_ago":
            words["closed_ago"] = duration(int(value), lang)
        elif name == "channel":
            words["channel"] = channel_label(str(value))
        elif name == "reason":
            words["reason"] = stored_reason_text(str(value), lang)
        elif name != "reason_key":
            words[name] = value
    key = params.get("reason_key")
    if key is not None:
        words["reason"] = t(str(key), lang, **words)
    return words


def reason_text(reason: Reason, lang: str) -> str:
    """A policy reason ("WhatsApp: window closed 3 d ago — template only")."""
    return t(reason.key, lang, **reason_params(reason.params, lang))


def stored_reason_text(text: str, lang: str) -> str:
    """A reason stored with a message (a catalogue key and its parameters) in
    words in `lang`; text stored as words is shown as it is."""
    reason = parse_stored_reason(text)
    if reason is None:
        return text
    try:
        return reason_text(reason, lang)
    except (KeyError, IndexError):  # a parameter missing: the thread still renders
        return reason.key


def window_line(decision: Decision, lang: str) -> str:
    """One channel's window state in words."""
    return reason_text(decision.reason, lang)


def ago(moment: datetime | None, now: datetime, lang: str) -> str:
    """ "3 d ago" style; an em dash when there is no time."""
    if moment is None:
        return "—"
    return t("time.ago", lang, duration=duration((now - moment).total_seconds(), lang))


def clock_time(moment: datetime) -> str:
    """`13:05`: `strftime("%H:%M")` without libc's strftime (1.7 → 0.4 µs, once per
    contact shown)."""
    return f"{moment.hour:02d}:{moment.minute:02d}"


def escape(text: str) -> str:
    """Text safe inside Slack mrkdwn (no accidental mentions or links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
