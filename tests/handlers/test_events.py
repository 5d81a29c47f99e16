"""Events (`handlers/events/`): `app_home_opened`, and App Home's own controls.

Scenarios in the style of bolt-python's `tests/scenario_tests_async/`: signed
requests into `serve`'s real web app (`tests.slack.conftest.Surface`), the local
fake Slack Web API (`tests.fakes.slack`), a real Redis.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest_asyncio

from bot.domain.channels import Channel
from bot.domain.models import ConversationStatus
from bot.slack import ids
from tests.fakes.slack import FakeSlack
from tests.slack.conftest import AGENT, OTHER_AGENT, Surface, buttons, running_surface, texts

# --- home -------------------------------------------------------------
#
# App Home (issue 4, items 7 and 8): the agent's desk, the team view, the language.
#
# Driven through the real Bolt app: `app_home_opened` events and Home tab
# clicks, signed as Slack signs them; the fake Slack checks every published
# view against Block Kit's limits (100 blocks, text lengths, options).


THIRD_AGENT = "U0AGENT3"


STRANGER = "U0STRANGER"


LEAD = "U0LEAD"  # a manager who is not an agent


HOME = {"id": "VHOME", "type": "home"}


@pytest_asyncio.fixture(loop_scope="session")
async def managed(redis_url: str, slack: FakeSlack) -> AsyncIterator[Surface]:
    """AGENT is also a manager, LEAD only a manager; only the three agents may act."""
    async with running_surface(
        redis_url,
        slack,
        agents=f"{AGENT},{OTHER_AGENT},{THIRD_AGENT}",
        managers=f"{AGENT},{LEAD}",
    ) as running:
        yield running


async def open_home(surface: Surface, user: str = AGENT) -> dict[str, Any]:
    status = await surface.event({"type": "app_home_opened", "user": user, "tab": "home"})
    assert status == 200
    await surface.settle()
    return surface.slack.home[user]


async def pick(surface: Surface, value: str, user: str = AGENT) -> int:
    """The language picker on the Home tab, as Slack sends a static select."""
    status, _ = await surface.interact(
        {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": "T0TEAM"},
            "container": {"type": "view", "view_id": "VHOME"},
            "view": HOME,
            "actions": [
                {
                    "type": "static_select",
                    "action_id": ids.HOME_LANGUAGE,
                    "block_id": "home:controls",
                    "selected_option": {
                        "value": value,
                        "text": {"type": "plain_text", "text": value},
                    },
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
    )
    await surface.settle()
    return status


async def desk(surface: Surface) -> dict[str, str]:
    """Sara (WhatsApp window closing in 4 h) and Omar (Telegram) open and AGENT's;
    Huda open and OTHER_AGENT's; Layla closed by AGENT."""
    now = surface.now
    ids_ = {
        "sara": await surface.contact(
            "Sara",
            "Ahmed",
            phone="+971501234567",
            identities={Channel.WHATSAPP: "971501234567"},
            assignee=AGENT,
            status="open",
            last_inbound={Channel.WHATSAPP: now - timedelta(hours=20)},
        ),
        "omar": await surface.contact(
            "Omar",
            "Khalil",
            identities={Channel.TELEGRAM: "5550002"},
            assignee=AGENT,
            status="open",
            last_inbound={Channel.TELEGRAM: now - timedelta(hours=1)},
        ),
        "huda": await surface.contact(
            "Huda",
            "Saleh",
            identities={Channel.INSTAGRAM: "igsid-1"},
            assignee=OTHER_AGENT,
            status="open",
            last_inbound={Channel.INSTAGRAM: now - timedelta(days=6, hours=20)},
        ),
        "layla": await surface.contact(
            "Layla", "Nasser", email="layla@example.com", assignee=AGENT, status="open"
        ),
    }
    await surface.deps.conversations.close(ids_["layla"], AGENT, reason="solved")
    return ids_


def section_texts(view: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]


async def test_app_home_shows_the_agents_desk(surface: Surface) -> None:
    contacts = await desk(surface)

    view = await open_home(surface)

    assert view["type"] == "home"
    shown = texts(view["blocks"])
    assert "*Your open conversations* (2)" in shown
    # Most recent customer message first: Omar (1 h ago), then Sara (20 h ago).
    sections = section_texts(view)
    assert sections.index(next(s for s in sections if "Omar Khalil" in s)) < sections.index(
        next(s for s in sections if s.startswith("*Sara Ahmed*"))
    )
    assert "Huda Saleh" not in shown  # another agent's
    assert "*Windows closing in the next 8 h*" in shown
    assert "⏳ *Sara Ahmed* · WhatsApp closes in 4 h — then template only" in shown
    assert "*Recently closed by you*" in shown and "Layla Nasser" in shown
    found = buttons(view["blocks"])
    assert (ids.CONTACT_FOLLOWUP, contacts["sara"]) in found
    assert (ids.CONTACT_CLOSE, contacts["omar"]) in found
    assert (ids.CONTACT_REOPEN, contacts["layla"]) in found
    # No thread yet: nothing to open (a Home click has no message to answer in).
    assert not [b for b in found if b[0] in (ids.CONTACT_OPEN_THREAD, ids.OPEN_THREAD_LINK)]
    assert "*Team*" not in shown  # not a manager
    [close] = [
        e
        for b in view["blocks"]
        for e in b.get("elements", [])
        if e.get("action_id") == ids.CONTACT_CLOSE and e["value"] == contacts["omar"]
    ]
    assert close["confirm"]["text"]["text"].startswith("Close the conversation with Omar Khalil?")


async def test_closing_from_app_home_moves_it_to_recently_closed(surface: Surface) -> None:
    contacts = await desk(surface)
    await open_home(surface)

    status, ack, _ = await surface.click(ids.CONTACT_CLOSE, contacts["omar"], view=HOME)
    await surface.settle()

    assert status == 200 and ack == {}
    omar = await surface.deps.contacts.require(contacts["omar"])
    assert omar.conversation.status is ConversationStatus.CLOSED
    view = surface.slack.home[AGENT]
    assert "*Your open conversations* (1)" in texts(view["blocks"])
    assert (ids.CONTACT_REOPEN, contacts["omar"]) in buttons(view["blocks"])
    closed = [s for s in section_texts(view) if "Khalil" in s or "Nasser" in s]
    assert "Omar Khalil" in closed[0]  # newest first


async def test_reopening_from_app_home_brings_it_back_to_the_open_list(surface: Surface) -> None:
    contacts = await desk(surface)
    await surface.click(ids.CONTACT_REOPEN, contacts["layla"], view=HOME)
    await surface.settle()
    view = surface.slack.home[AGENT]
    assert "*Your open conversations* (3)" in texts(view["blocks"])
    assert "Nothing closed lately." in texts(view["blocks"])


async def test_a_manager_sees_every_agents_open_conversations_and_closing_windows(
    managed: Surface,
) -> None:
    await desk(managed)
    await managed.contact(
        "Rami", identities={Channel.SMS: "+971500000003"}, assignee=THIRD_AGENT, status="open"
    )

    view = await open_home(managed)

    shown = texts(view["blocks"])
    assert "*Team* · 3 agents · 4 open conversations" in shown
    [team_other] = [s for s in section_texts(view) if s.startswith(f"*<@{OTHER_AGENT}>*")]
    assert "1 open" in team_other and "• Huda Saleh · last message 6 d ago" in team_other
    assert "⏳ Huda Saleh · Instagram closes in 4 h — then nothing until the customer writes" in (
        team_other
    )
    assert any(s.startswith(f"*<@{AGENT}>* · 2 open") for s in section_texts(view))
    assert any(s.startswith(f"*<@{THIRD_AGENT}>* · 1 open") for s in section_texts(view))


async def test_a_manager_who_is_not_an_agent_follows_the_team_without_buttons(
    managed: Surface,
) -> None:
    await desk(managed)
    view = await open_home(managed, LEAD)
    shown = texts(view["blocks"])
    assert "*Team* · 2 agents · 3 open conversations" in shown
    assert "*Your open conversations*" not in shown
    assert buttons(view["blocks"]) == []


async def test_an_agent_who_is_not_a_manager_gets_no_team_view(managed: Surface) -> None:
    await desk(managed)
    view = await open_home(managed, OTHER_AGENT)
    shown = texts(view["blocks"])
    assert "*Your open conversations* (1)" in shown and "Huda Saleh" in shown
    assert "*Team*" not in shown


async def test_someone_who_is_not_an_agent_sees_a_polite_page(managed: Surface) -> None:
    view = await open_home(managed, STRANGER)
    shown = texts(view["blocks"])
    assert "This app is for the support team's agents" in shown
    assert buttons(view["blocks"]) == []
    # And the Home tab's controls do nothing for them.
    before = len(managed.slack.calls)
    assert await pick(managed, "ar", STRANGER) == 200
    assert managed.slack.calls_to("views.publish")[before:] == []
    assert await managed.deps.people.picked_language(STRANGER) is None


async def test_picking_arabic_redraws_app_home_in_arabic(surface: Surface) -> None:
    await desk(surface)
    english = await open_home(surface)
    assert "*Your open conversations* (2)" in texts(english["blocks"])

    assert await pick(surface, "ar") == 200

    arabic = surface.slack.home[AGENT]
    shown = texts(arabic["blocks"])
    assert "*محادثاتك المفتوحة* (\u20682\u2069)" in shown
    assert "المتابعات" in shown
    select = next(
        e
        for b in arabic["blocks"]
        for e in b.get("elements", [])
        if e.get("action_id") == ids.HOME_LANGUAGE
    )
    assert select["initial_option"]["value"] == "ar"
    assert await surface.deps.people.language(AGENT) == "ar"  # every answer now, not just Home

    await pick(surface, "auto")  # back to Slack's language (none known: the default)
    assert "*Your open conversations* (2)" in texts(surface.slack.home[AGENT]["blocks"])


async def test_the_slack_locale_speaks_when_nothing_was_picked(surface: Surface) -> None:
    surface.slack.users[AGENT] = {"id": AGENT, "locale": "ar-SA"}
    await desk(surface)
    view = await open_home(surface)
    assert "*محادثاتك المفتوحة*" in texts(view["blocks"])
    await open_home(surface)
    assert len(surface.slack.calls_to("users.info")) == 1  # asked once, then remembered

    await pick(surface, "en")  # the App Home choice wins over the locale
    assert "*Your open conversations* (2)" in texts(surface.slack.home[AGENT]["blocks"])


async def test_default_language_when_the_locale_is_not_one_we_speak(
    redis_url: str, slack: FakeSlack
) -> None:
    async with running_surface(redis_url, slack, default_language="ar") as surface:
        slack.users[AGENT] = {"id": AGENT, "locale": "fr-FR"}
        view = await open_home(surface)
        assert "*محادثاتك المفتوحة* (\u20680\u2069)" in texts(view["blocks"])
        assert "لا توجد محادثة مفتوحة مُسنَدة إليك." in texts(view["blocks"])


async def test_refresh_redraws_from_the_store(surface: Surface) -> None:
    await open_home(surface)
    await surface.contact("Mona", email="mona@example.com", assignee=AGENT, status="open")
    status, _, _ = await surface.click(ids.HOME_REFRESH, "refresh", view=HOME)
    await surface.settle()
    assert status == 200
    assert "Mona" in texts(surface.slack.home[AGENT]["blocks"])


async def test_open_thread_buttons_link_to_the_thread_asking_slack_once(surface: Surface) -> None:
    contacts = await desk(surface)
    posted = await surface.deps.client.chat_postMessage(channel="C0SUPPORT", text="root")
    await surface.deps.contacts.set_thread(contacts["sara"], str(posted["ts"]))
    view = await open_home(surface)
    links = [
        e
        for b in view["blocks"]
        for e in b.get("elements", [])
        if e.get("action_id") == ids.OPEN_THREAD_LINK
    ]
    assert links and all(e["url"].startswith("https://example.slack.com/archives/") for e in links)
    await open_home(surface)
    assert len(surface.slack.calls_to("chat.getPermalink")) == 1  # kept in Redis


async def test_a_busy_manager_home_stays_within_block_kit_limits(managed: Surface) -> None:
    now: datetime = managed.now
    for n in range(30):
        await managed.contact(
            "Busy",
            f"B{n:02d}",
            identities={Channel.WHATSAPP: f"97150000{n:04d}"},
            assignee=AGENT,
            status="open",
            last_inbound={Channel.WHATSAPP: now - timedelta(hours=18, minutes=n)},
        )
    for n in range(14):
        agent = f"U0TEAM{n:02d}"
        await managed.contact(
            "Team",
            f"T{n:02d}",
            identities={Channel.WECHAT: f"wx{n}"},
            assignee=agent,
            status="open",
            last_inbound={Channel.WECHAT: now - timedelta(hours=44)},
        )
    for n in range(8):
        cid = await managed.contact(
            "Done", f"D{n}", email=f"d{n}@example.com", assignee=AGENT, status="open"
        )
        await managed.deps.conversations.close(cid, AGENT)

    view = await open_home(managed)

    assert len(view["blocks"]) <= 100
    shown = texts(view["blocks"])
    assert "*Your open conversations* (30)" in shown
    assert "…and 22 more" in shown  # 8 shown of 30
    assert "…and 24 more" in shown  # closing windows: 6 of 30
    assert "…and 3 more" in shown  # recently closed: 5 of 8
    assert "…and 5 more agents" in shown  # 10 of 15 agents
    assert not managed.slack.violations
