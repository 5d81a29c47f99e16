"""`/followup <contact> --at WHEN | --when-they-write | --remind DURATION [message]`.

Issue 13 (SPEC "Follow-ups in time"): signed commands into the real app; the
item it schedules; the due runner, on an injected clock, sending it at its time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.channels import Channel
from bot.domain.schedule import ItemKind
from bot.relay.due import DueRunner
from bot.slack import ids
from bot.slack.blocks.contact_edit import BLOCKS as EDIT_BLOCKS
from bot.slack.threads import PosterTuning, ThreadPoster
from tests.fakes.slack import FakeSlack
from tests.slack.compose_steps import ephemerals, messages_of, open_composer, submit
from tests.slack.conftest import AGENT, SUPPORT_CHANNEL, Surface, running_surface
from tests.slack.thread_poster import thread_poster

# The surface's clock: Tuesday 24 November 2026, 12:00 UTC (14:00 in Cairo).


async def answer_to(surface: Surface, url: str) -> dict[str, Any]:
    await surface.settle()
    answers = surface.slack.answers_to(url)
    assert answers, "no answer"
    return answers[-1]


@pytest.fixture
def agent_in_new_york(slack: FakeSlack) -> Iterator[None]:
    slack.users[AGENT] = {"id": AGENT, "tz": "America/New_York"}
    yield
    slack.users.pop(AGENT, None)


async def run_due(surface: Surface, at: datetime) -> int:
    scheduling = surface.deps.listeners.scheduling
    return await DueRunner(scheduling.store, lambda: at, scheduling.fire).tick()


async def test_at_tomorrow_morning_is_their_morning_and_goes_then(surface: Surface) -> None:
    cid = await surface.contact(
        "Sara", "Ahmed", phone="+201001234567", identities={Channel.TELEGRAM: "8101"}
    )

    status, ack, url = await surface.command(
        ids.FOLLOWUP, "Sara Ahmed --at tomorrow 09:00 Your order shipped"
    )
    answer = await answer_to(surface, url)

    assert status == 200 and ack == {}
    assert "Scheduled to *Sara Ahmed* on Telegram" in answer["text"]
    assert "Wed 25 Nov 09:00 (Africa/Cairo)" in answer["text"]  # their time
    [item] = await surface.deps.listeners.scheduling.waiting_for_contact(cid)
    assert item.kind is ItemKind.SEND_AT
    assert item.due_at == datetime.fromisoformat("2026-11-25T07:00:00+00:00")
    assert await messages_of(surface, cid) == []

    assert await run_due(surface, item.due_at - timedelta(seconds=1)) == 0
    assert await run_due(surface, item.due_at) == 1
    [message] = await messages_of(surface, cid)
    assert (message.channel, message.content.text) == (Channel.TELEGRAM, "Your order shipped")


async def test_without_their_zone_the_time_is_the_agent_s(
    surface: Surface, agent_in_new_york: None
) -> None:
    cid = await surface.contact("Omar", "Nour", identities={Channel.TELEGRAM: "8102"})

    _, _, url = await surface.command(ids.FOLLOWUP, 'Omar Nour --at "tomorrow 09:00" Hello')
    answer = await answer_to(surface, url)

    assert "their time zone is not known" in answer["text"]
    [item] = await surface.deps.listeners.scheduling.waiting_for_contact(cid)
    assert item.due_at == datetime.fromisoformat("2026-11-25T14:00:00+00:00")  # 09:00 EST


async def test_a_quiet_instagram_customer_gets_it_when_they_next_write(surface: Surface) -> None:
    cid = await surface.contact(
        "Lina",
        "Haddad",
        identities={Channel.INSTAGRAM: "ig-8103"},
        last_inbound={Channel.INSTAGRAM: surface.now - timedelta(days=10)},
    )

    _, _, url = await surface.command(ids.FOLLOWUP, "Lina Haddad --at in 1h Any news?")
    refused = await answer_to(surface, url)
    assert "Scheduled" not in refused["text"]
    assert await surface.deps.listeners.scheduling.waiting_for_contact(cid) == []

    _, _, url = await surface.command(ids.FOLLOWUP, "Lina Haddad --when-they-write Any news?")
    answer = await answer_to(surface, url)
    assert "Waiting for *Lina Haddad* to write on Instagram" in answer["text"]
    [item] = await surface.deps.listeners.scheduling.waiting_for_contact(cid)
    assert item.kind is ItemKind.WHEN_THEY_WRITE and item.due_at is None


async def test_remind_sends_the_message_now_and_reminds_in_two_days(surface: Surface) -> None:
    cid = await surface.contact("Maya", "Saleh", identities={Channel.TELEGRAM: "8104"})

    _, _, url = await surface.command(ids.FOLLOWUP, "Maya Saleh --remind 2d Did that work?")
    await surface.settle()

    [message] = await messages_of(surface, cid)
    assert message.content.text == "Did that work?"
    texts = [a["text"] for a in surface.slack.answers_to(url)]
    assert any("On its way to *Maya Saleh*" in text for text in texts)
    assert any("I'll remind you" in text for text in texts)
    [item] = await surface.deps.listeners.scheduling.waiting_for_contact(cid)
    assert item.kind is ItemKind.REMIND and item.due_at == surface.now + timedelta(days=2)


async def test_a_when_that_cannot_be_read_says_so_and_schedules_nothing(surface: Surface) -> None:
    cid = await surface.contact("Rana", "Aziz", identities={Channel.TELEGRAM: "8105"})

    _, _, url = await surface.command(ids.FOLLOWUP, "Rana Aziz --at someday hello")
    answer = await answer_to(surface, url)

    assert "can't read “someday” as a time" in answer["text"]
    assert await surface.deps.listeners.scheduling.waiting_for_contact(cid) == []
    assert await messages_of(surface, cid) == []


async def test_the_same_command_twice_schedules_once(surface: Surface) -> None:
    cid = await surface.contact("Hadi", "Karam", identities={Channel.TELEGRAM: "8106"})
    scheduling = surface.deps.listeners.scheduling
    contact = await surface.deps.contacts.require(cid)
    from bot.domain.when import ScheduleFlags

    flags = ScheduleFlags(at="in 2h")
    first = await scheduling.schedule_line(contact, AGENT, "Hello", flags, "trigger-1")
    again = await scheduling.schedule_line(contact, AGENT, "Hello", flags, "trigger-1")
    assert first.outcome.value == "scheduled" and again.outcome.value == "duplicate"
    assert len(await scheduling.waiting_for_contact(cid)) == 1


async def schedule_one(surface: Surface, name: str, telegram: str, line: str) -> tuple[str, str]:
    first, last = name.split()
    cid = await surface.contact(first, last, identities={Channel.TELEGRAM: telegram})
    await surface.command(ids.FOLLOWUP, f"{name} {line}")
    await surface.settle()
    [item] = await surface.deps.listeners.scheduling.waiting_for_contact(cid)
    return cid, item.id


async def test_cancel_means_it_is_never_sent(surface: Surface) -> None:
    cid, item_id = await schedule_one(surface, "Nada Fares", "8201", "--at in 3h See you")

    _, _, url = await surface.click(ids.SCHEDULE_CANCEL, item_id)
    answer = await answer_to(surface, url)

    assert "Cancelled: it will not be sent." in answer["text"]
    assert await run_due(surface, surface.now + timedelta(hours=4)) == 0
    assert await messages_of(surface, cid) == []
    _, _, url = await surface.click(ids.SCHEDULE_CANCEL, item_id)
    assert "not waiting any more" in (await answer_to(surface, url))["text"]


async def test_send_now_sends_it_in_the_runner_s_next_round(surface: Surface) -> None:
    cid, item_id = await schedule_one(surface, "Ziad Amin", "8202", "--at in 3h Update")

    _, _, url = await surface.click(ids.SCHEDULE_SEND_NOW, item_id)
    assert "Sending it now." in (await answer_to(surface, url))["text"]

    assert await run_due(surface, surface.now) == 1
    [message] = await messages_of(surface, cid)
    assert message.content.text == "Update"


async def test_edit_changes_the_time_and_the_text(surface: Surface) -> None:
    cid, item_id = await schedule_one(surface, "Tala Jaber", "8203", "--at in 3h First draft")

    await surface.click(ids.SCHEDULE_EDIT, item_id)
    await surface.settle()
    view = surface.last_view()
    assert view["callback_id"] == ids.SCHEDULE_EDIT_VIEW and view["private_metadata"] == item_id
    later = surface.now + timedelta(hours=5)
    status, ack = await surface.submit(
        view,
        {
            ids.SCHEDULE_EDIT_AT: {
                ids.SCHEDULE_EDIT_AT: {
                    "type": "datetimepicker",
                    "selected_date_time": int(later.timestamp()),
                }
            },
            ids.SCHEDULE_EDIT_TEXT: {
                ids.SCHEDULE_EDIT_TEXT: {"type": "plain_text_input", "value": "Final words"}
            },
        },
    )
    await surface.settle()

    assert status == 200 and ack == {}
    assert await run_due(surface, surface.now + timedelta(hours=4)) == 0
    assert await run_due(surface, later) == 1
    [message] = await messages_of(surface, cid)
    assert message.content.text == "Final words"


async def test_an_edit_to_a_time_gone_by_is_refused_in_the_form(surface: Surface) -> None:
    _, item_id = await schedule_one(surface, "Yara Odeh", "8204", "--at in 3h Hi")

    await surface.click(ids.SCHEDULE_EDIT, item_id)
    await surface.settle()
    past = int((surface.now - timedelta(hours=1)).timestamp())
    _, ack = await surface.submit(
        surface.last_view(),
        {
            ids.SCHEDULE_EDIT_AT: {
                ids.SCHEDULE_EDIT_AT: {"type": "datetimepicker", "selected_date_time": past}
            }
        },
    )

    assert ack["response_action"] == "errors" and ids.SCHEDULE_EDIT_AT in ack["errors"]


async def test_snooze_puts_the_reminder_off(surface: Surface) -> None:
    cid = await surface.contact("Karim", "Said", identities={Channel.TELEGRAM: "8205"})

    _, _, url = await surface.click(ids.REMIND_SNOOZE_DAY, f"{cid}|1d")
    answer = await answer_to(surface, url)

    assert "Snoozed until" in answer["text"]
    [item] = await surface.deps.listeners.scheduling.waiting_for_contact(cid)
    assert item.kind is ItemKind.REMIND and item.due_at == surface.now + timedelta(days=1)


def poster(surface: Surface) -> ThreadPoster:
    client = AsyncWebClient(token=surface.slack.token, base_url=surface.slack.url)
    fast = PosterTuning(post_rate=1000, post_burst=1000, update_rate=1000, update_burst=1000)
    return thread_poster(
        surface.deps.redis,
        surface.deps.keys,
        client,
        SUPPORT_CHANNEL,
        lambda: surface.now,
        tuning=fast,
    )


def thread_posts(surface: Surface, thread_ts: str) -> list[dict[str, Any]]:
    return [
        c.args
        for c in surface.slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") == thread_ts
    ]


async def test_the_thread_shows_what_waits_with_its_buttons_then_what_became_of_it(
    surface: Surface,
) -> None:
    cid, item_id = await schedule_one(surface, "Huda Nasser", "8301", "--at in 3h See you")
    await poster(surface).flush()
    thread_ts = (await surface.deps.contacts.require(cid)).conversation.thread_ts
    assert thread_ts
    [entry] = [p for p in thread_posts(surface, thread_ts) if "Huda Nasser" in p["text"]]
    assert "See you" in entry["text"]
    actions = next(b for b in entry["blocks"] if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [
        ids.SCHEDULE_SEND_NOW,
        ids.SCHEDULE_EDIT,
        ids.SCHEDULE_CANCEL,
    ]
    assert all(e["value"] == item_id for e in actions["elements"])

    await surface.click(ids.SCHEDULE_CANCEL, item_id)
    await surface.settle()
    await poster(surface).flush()
    [update] = surface.slack.calls_to("chat.update")[-1:]
    assert "Cancelled" in update.args["text"]
    assert not [b for b in update.args["blocks"] if b["type"] == "actions"]


async def test_a_due_reminder_is_a_direct_message_with_follow_up_close_and_snooze(
    surface: Surface,
) -> None:
    cid = await surface.contact("Samir", "Toma", identities={Channel.TELEGRAM: "8302"})
    await surface.click(ids.THREAD_REMIND, cid)
    await surface.settle()
    view = surface.last_view()
    assert view["callback_id"] == ids.REMIND_VIEW
    status, ack = await surface.submit(
        view,
        {
            ids.REMIND_AFTER: {
                ids.REMIND_AFTER: {"type": "static_select", "selected_option": {"value": "1d"}}
            },
            ids.REMIND_NOTE: {ids.REMIND_NOTE: {"type": "plain_text_input", "value": "Invoice?"}},
        },
    )
    await surface.settle()
    assert status == 200 and ack == {}
    [item] = await surface.deps.listeners.scheduling.waiting_for_contact(cid)
    assert item.kind is ItemKind.REMIND and item.due_at == surface.now + timedelta(days=1)

    assert await run_due(surface, surface.now + timedelta(days=1)) == 1
    [dm] = [
        c.args for c in surface.slack.calls_to("chat.postMessage") if c.args.get("channel") == AGENT
    ][-1:]
    assert "*Samir Toma* has not replied" in dm["text"]
    rendered = json.dumps(dm["blocks"])
    for action_id in (ids.THREAD_FOLLOWUP, ids.THREAD_CLOSE, *ids.REMIND_SNOOZES):
        assert action_id in rendered
    assert "Invoice?" in rendered
    assert await surface.deps.listeners.scheduling.waiting_for_contact(cid) == []


async def test_app_home_lists_what_the_agent_has_waiting_soonest_first(surface: Surface) -> None:
    _, later = await schedule_one(surface, "Mona Aref", "8401", "--at in 5h Later one")
    _, sooner = await schedule_one(surface, "Fadi Rizk", "8402", "--at in 2h Sooner one")

    status = await surface.event({"type": "app_home_opened", "user": AGENT, "tab": "home"})
    await surface.settle()
    assert status == 200
    blocks = surface.slack.home[AGENT]["blocks"]
    buttons = [
        e["value"]
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == ids.SCHEDULE_CANCEL
    ]
    assert buttons[:2] == [sooner, later]
    text = json.dumps(blocks, ensure_ascii=False)
    assert "*Waiting* (2)" in text and "Sooner one" in text and "Fadi Rizk" in text


async def test_a_manager_sees_the_team_s_waiting_items_with_who_made_them(
    redis_url: str, slack: FakeSlack
) -> None:
    async with running_surface(redis_url, slack, agents=AGENT, managers="U0LEAD") as surface:
        _, item_id = await schedule_one(surface, "Rami Sabbagh", "8403", "--at in 2h Hello")
        await surface.event({"type": "app_home_opened", "user": "U0LEAD", "tab": "home"})
        await surface.settle()
        text = json.dumps(surface.slack.home["U0LEAD"]["blocks"], ensure_ascii=False)
        assert "*Team · waiting* (1)" in text
        assert f"by <@{AGENT}>" in text and item_id in text


@pytest.mark.parametrize(("choice", "left"), [("keep", 1), ("drop", 0)])
async def test_closing_asks_whether_to_keep_what_is_scheduled(
    surface: Surface, choice: str, left: int
) -> None:
    cid, _ = await schedule_one(surface, f"Amal K{choice}", f"85{len(choice)}1", "--at in 3h Hi")

    await surface.click(ids.THREAD_CLOSE, cid)
    await surface.settle()
    view = surface.last_view()
    assert view["callback_id"] == ids.CLOSE_VIEW
    assert ids.CLOSE_KEEP in json.dumps(view["blocks"])
    await surface.submit(
        view,
        {
            "close_keep": {
                ids.CLOSE_KEEP: {"type": "radio_buttons", "selected_option": {"value": choice}}
            }
        },
    )
    await surface.settle()

    contact = await surface.deps.contacts.require(cid)
    assert contact.conversation.status.value == "closed"
    assert len(await surface.deps.listeners.scheduling.waiting_for_contact(cid)) == left


async def test_the_close_modal_asks_nothing_when_nothing_waits(surface: Surface) -> None:
    cid = await surface.contact(
        "Nour", "Haddad", identities={Channel.TELEGRAM: "8601"}, status="open"
    )
    await surface.click(ids.THREAD_CLOSE, cid)
    await surface.settle()
    assert ids.CLOSE_KEEP not in json.dumps(surface.last_view()["blocks"])


def edit_values(first: str, last: str, zone: str) -> dict[str, Any]:
    fields = {
        "first_name": (ids.EDIT_FIRST_NAME, first),
        "last_name": (ids.EDIT_LAST_NAME, last),
        "phone": (ids.EDIT_PHONE, ""),
        "email": (ids.EDIT_EMAIL, ""),
        "time_zone": (ids.EDIT_TIME_ZONE, zone),
    }
    return {
        EDIT_BLOCKS[name]: {action: {"type": "plain_text_input", "value": value or None}}
        for name, (action, value) in fields.items()
    }


async def test_an_agent_sets_the_customer_s_time_zone_and_times_are_read_in_it(
    surface: Surface,
) -> None:
    cid = await surface.contact("Leila", "Farah", identities={Channel.TELEGRAM: "8701"})
    await surface.click(ids.CONTACT_EDIT, cid)
    await surface.settle()
    editor = surface.last_view()
    assert ids.EDIT_TIME_ZONE in json.dumps(editor["blocks"])

    _, ack = await surface.submit(editor, edit_values("Leila", "Farah", "mars/olympus"))
    assert ack["response_action"] == "errors"
    assert "IANA" in ack["errors"][EDIT_BLOCKS["time_zone"]]

    _, ack = await surface.submit(editor, edit_values("Leila", "Farah", "asia/tokyo"))
    await surface.settle()
    assert (await surface.deps.contacts.require(cid)).time_zone == "Asia/Tokyo"

    _, _, url = await surface.command(ids.FOLLOWUP, "Leila Farah --at tomorrow 09:00 Hi")
    answer = await answer_to(surface, url)
    assert "(Asia/Tokyo)" in answer["text"]
    [item] = await surface.deps.listeners.scheduling.waiting_for_contact(cid)
    assert item.due_at == datetime.fromisoformat("2026-11-25T00:00:00+00:00")  # 09:00 JST


async def test_the_customer_s_local_time_is_shown_with_the_contact(surface: Surface) -> None:
    await surface.contact(
        "Dana", "Mansour", phone="+971501119999", identities={Channel.TELEGRAM: "8801"}
    )

    _, _, url = await surface.command(ids.FIND_CONTACT, "Dana Mansour --all --any")
    answer = await answer_to(surface, url)

    assert "🕘 16:00 their time" in json.dumps(answer["blocks"], ensure_ascii=False)  # Dubai, UTC+4


# --- the compose modal ----------------------------------------------------------------


async def test_the_composer_schedules_for_their_morning_with_a_quick_pick(surface: Surface) -> None:
    cid = await surface.contact(
        "Reem", "Saad", phone="+201001234567", identities={Channel.TELEGRAM: "8901"}
    )
    view = await open_composer(surface, cid)
    when = next(b for b in view["blocks"] if b.get("block_id") == "compose_when")
    options = {o["text"]["text"]: o["value"] for o in when["element"]["options"]}
    assert "Tomorrow 09:00 their time" in options
    assert "Their time now: 14:00 (Africa/Cairo)" in json.dumps(view["blocks"])

    ack = await submit(
        surface,
        view,
        {ids.COMPOSE_TEXT: "Good morning!", ids.COMPOSE_WHEN: options["Tomorrow 09:00 their time"]},
    )

    assert ack == {}
    assert await messages_of(surface, cid) == []
    [item] = await surface.deps.listeners.scheduling.waiting_for_contact(cid)
    assert item.due_at == datetime.fromisoformat("2026-11-25T07:00:00+00:00")
    assert "Scheduled to *Reem Saad*" in ephemerals(surface)[-1]["text"]


async def test_a_time_when_the_window_will_have_closed_is_a_field_error(surface: Surface) -> None:
    cid = await surface.contact(
        "Ola",
        "Badr",
        identities={Channel.WHATSAPP: "971501230000"},
        last_inbound={Channel.WHATSAPP: surface.now - timedelta(hours=20)},
    )
    view = await open_composer(surface, cid)
    tomorrow = int((surface.now + timedelta(days=1)).timestamp())

    ack = await submit(surface, view, {ids.COMPOSE_TEXT: "Hi", ids.COMPOSE_AT: tomorrow})

    assert ack["response_action"] == "errors"
    assert "template only" in ack["errors"]["compose_when_at"]
    assert await surface.deps.listeners.scheduling.waiting_for_contact(cid) == []


async def test_where_nothing_may_go_the_composer_queues_it_for_their_next_message(
    surface: Surface,
) -> None:
    cid = await surface.contact(
        "Iman",
        "Zein",
        identities={Channel.INSTAGRAM: "ig-8902"},
        last_inbound={Channel.INSTAGRAM: surface.now - timedelta(days=10)},
    )
    view = await open_composer(surface, cid)
    assert view["submit"]["text"] == "Send when they write"

    ack = await submit(surface, view, {ids.COMPOSE_TEXT: "We fixed it!", ids.COMPOSE_REMIND: "2d"})

    assert ack == {}
    waiting = await surface.deps.listeners.scheduling.waiting_for_contact(cid)
    assert sorted(i.kind.value for i in waiting) == ["remind", "when_they_write"]
    assert "Waiting for *Iman Zein* to write on Instagram" in ephemerals(surface)[-1]["text"]


async def test_send_now_with_remind_me_sends_and_sets_the_reminder(surface: Surface) -> None:
    cid = await surface.contact("Sami", "Daher", identities={Channel.TELEGRAM: "8903"})
    view = await open_composer(surface, cid)

    ack = await submit(
        surface, view, {ids.COMPOSE_TEXT: "Done, check it", ids.COMPOSE_REMIND: "1d"}
    )

    assert ack == {}
    [message] = await messages_of(surface, cid)
    assert message.content.text == "Done, check it"
    [item] = await surface.deps.listeners.scheduling.waiting_for_contact(cid)
    assert item.kind is ItemKind.REMIND and item.due_at == surface.now + timedelta(days=1)
    assert "I'll remind you" in json.dumps(ephemerals(surface)[-1]["blocks"])


async def test_a_time_zone_typed_with_a_phone_that_needs_a_merge_survives_the_merge(
    surface: Surface,
) -> None:
    wechat = await surface.contact("", identities={Channel.WECHAT: "oTZ8uMuAJO_M2pxb1Q9zNjWeS6o"})
    await surface.contact(
        "Maha", "Rafi", phone="+971501239876", identities={Channel.TELEGRAM: "9901"}
    )
    await surface.click(ids.CONTACT_EDIT, wechat)
    await surface.settle()
    values = edit_values("Maha", "Rafi", "Asia/Dubai")
    values[EDIT_BLOCKS["phone"]] = {
        ids.EDIT_PHONE: {"type": "plain_text_input", "value": "+971501239876"}
    }

    _, ack = await surface.submit(surface.last_view(), values)
    assert ack["response_action"] == "update" and ack["view"]["callback_id"] == ids.MERGE_VIEW
    await surface.submit(dict(ack["view"], id="V0MERGETZ"), {})
    await surface.settle()

    merged = await surface.deps.contacts.require(wechat)
    assert merged.phone == "+971501239876" and merged.time_zone == "Asia/Dubai"


async def test_a_customer_s_message_shows_in_the_thread_what_it_did_to_what_waits(
    surface: Surface,
) -> None:
    from bot.app_keys import INBOUND_KEY

    cid = await surface.contact("Wafa", "Salem", identities={Channel.TELEGRAM: "9911"})
    reminder = await surface.deps.listeners.scheduling.remind(cid, AGENT, timedelta(days=2))
    assert reminder.item is not None

    # What serve's webhook processing calls once the customer's message is recorded.
    await surface.app[INBOUND_KEY].customer_wrote(cid, surface.now + timedelta(hours=1))

    assert await surface.deps.listeners.scheduling.waiting_for_contact(cid) == []
    pending = await surface.deps.redis.hgetall(surface.deps.keys.thread_pending())
    entry = json.loads(pending[f"s:{reminder.item.id}"])
    assert entry["gone"] == "cancelled"
