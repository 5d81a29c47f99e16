"""The compose modal's time: *Send now* or *Send at…* (a date and time, or a quick
pick in the customer's morning), *Remind me if no reply in…*, and, where nothing
may go now, the message that waits for the customer's next message."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo
from functools import cache, lru_cache

from slack_sdk.models.blocks import (
    Block,
    DateTimePickerElement,
    InputBlock,
    Option,
    StaticSelectElement,
)

from bot.domain.models import to_epoch
from bot.domain.when import wall_time
from bot.slack import ids
from bot.slack.blocks.parts import context_block, plain_text
from bot.slack.blocks.schedule import REMIND_CHOICES, remind_option_text
from bot.slack.i18n import t
from bot.slack.payloads import BuiltBlock
from bot.slack.render import clock_time
from bot.slack.view_state import ViewState

BLOCK_WHEN = "compose_when"
BLOCK_WHEN_AT = "compose_when_at"
BLOCK_REMIND = "compose_remind"
NOW = "now"
#: Quick picks: 09:00 tomorrow and next Monday, on the customer's clock.
MORNING = time(9, 0)


def quick_picks(now: datetime, zone: tzinfo) -> list[tuple[str, datetime]]:
    """(catalogue suffix, moment) of "tomorrow 09:00" and "Monday 09:00" in `zone`."""
    today = now.astimezone(zone).date()
    tomorrow = wall_time(today + timedelta(days=1), MORNING, zone)
    ahead = (7 - today.weekday()) % 7 or 7
    monday = wall_time(today + timedelta(days=ahead), MORNING, zone)
    return [("tomorrow", tomorrow), ("monday", monday)]


def when_blocks(now: datetime, customer_zone: tzinfo | None, lang: str) -> list[Block]:
    """*When* (now, or a quick pick), *Date and time* (optional), *Remind me…*."""
    return list(_when_blocks(now.replace(second=0, microsecond=0), customer_zone, lang))


@lru_cache(maxsize=256)
def _when_blocks(minute: datetime, customer_zone: tzinfo | None, lang: str) -> tuple[Block, ...]:
    """`when_blocks` in one minute: the same for every modal opened then (the hint
    names the customer's clock to the minute, the quick picks their date), so built
    once and shared as JSON. Building and converting them was about 55 µs of a
    modal's CPU (`timeit`), a third of the modal."""
    theirs = customer_zone is not None
    zone = customer_zone or minute.tzinfo
    assert zone is not None
    suffix = "" if theirs else ".yours"
    options = [Option(value=NOW, text=plain_text(t("schedule.compose.now", lang)))]
    for name, moment in quick_picks(minute, zone):
        label = t(f"schedule.compose.quick.{name}{suffix}", lang)
        options.append(Option(value=f"at:{to_epoch(moment)}", text=plain_text(label)))
    if theirs:
        local = minute.astimezone(customer_zone)
        hint = t(
            "schedule.compose.pick.hint.theirs",
            lang,
            time=clock_time(local),
            zone=getattr(customer_zone, "key", ""),
        )
    else:
        hint = t("schedule.compose.pick.hint.yours", lang)
    when = InputBlock(
        block_id=BLOCK_WHEN,
        label=plain_text(t("schedule.compose.when", lang)),
        optional=True,
        element=StaticSelectElement(
            action_id=ids.COMPOSE_WHEN, options=options, initial_option=options[0]
        ),
    )
    at = InputBlock(
        block_id=BLOCK_WHEN_AT,
        label=plain_text(t("schedule.compose.at", lang)),
        optional=True,
        hint=plain_text(hint),
        element=DateTimePickerElement(action_id=ids.COMPOSE_AT),
    )
    return (BuiltBlock(when), BuiltBlock(at), remind_block(lang))


@cache
def remind_block(lang: str) -> Block:
    """*Remind me if no reply in…*: the same for every modal in a language, so
    built once per language and shared as JSON. Building it was about a fifth of
    the compose modal's cost, about 1.5% of serve's CPU under `bench/ack.py`
    (py-spy)."""
    none = Option(value="none", text=plain_text(t("schedule.compose.remind.none", lang)))
    options = [none] + [
        Option(value=value, text=plain_text(remind_option_text(value, lang)))
        for value, _ in REMIND_CHOICES
    ]
    return BuiltBlock(
        InputBlock(
            block_id=BLOCK_REMIND,
            label=plain_text(t("schedule.compose.remind", lang)),
            optional=True,
            element=StaticSelectElement(
                action_id=ids.COMPOSE_REMIND, options=options, initial_option=none
            ),
        )
    )


def wait_note(lang: str) -> Block:
    """Where nothing may go now: the message will wait for the customer."""
    return context_block(t("schedule.compose.when_they_write.hint", lang))


def read_when(state: ViewState) -> tuple[datetime | None, timedelta | None]:
    """(send at, remind after) from the modal's state; the date and time picked
    wins over a quick pick."""
    picked = state.moment(BLOCK_WHEN_AT, ids.COMPOSE_AT)
    chosen = state.selected(BLOCK_WHEN, ids.COMPOSE_WHEN) or ""
    send_at = None
    if picked:
        send_at = datetime.fromtimestamp(picked, UTC)
    elif chosen.startswith("at:") and chosen[3:].isdigit() and len(chosen) < 16:
        send_at = datetime.fromtimestamp(int(chosen[3:]), UTC)
    hours = dict(REMIND_CHOICES).get(state.selected(BLOCK_REMIND, ids.COMPOSE_REMIND) or "")
    return send_at, timedelta(hours=hours) if hours else None
