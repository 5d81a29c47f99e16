"""What App Home shows, from the store (the Slack rendering: tests/handlers/test_events.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.channels import Channel
from bot.domain.models import Contact, Conversation, ConversationStatus
from bot.domain.reachability import Unreachable, UnreachableReason
from bot.domain.windows import PolicySettings, SendMode
from bot.services.conversations import ConversationService
from bot.services.followup import FollowupService
from bot.services.home import HomeLimits, HomeService, closing_windows
from bot.store.contacts import ContactDraft
from tests.conftest import StoreEnv

HOUR = timedelta(hours=1)


def home_service(env: StoreEnv, now: datetime) -> HomeService:
    policy = PolicySettings()
    followups = FollowupService(env.contacts, env.outbox, policy, lambda: now)
    return HomeService(env.contacts, followups, policy, lambda: now)


async def open_contact(
    env: StoreEnv, now: datetime, n: int, agent: str, wrote: dict[Channel, datetime] | None = None
) -> str:
    draft = ContactDraft(
        first_name=f"C{n}",
        phone=f"+97150{n:07d}",
        identities={Channel.WHATSAPP: f"97150{n:07d}", Channel.MESSENGER: f"psid{n}"},
        status=ConversationStatus.OPEN,
        assignee=agent,
        last_inbound_at=wrote or {},
    )
    return (await env.contacts.create(draft, now)).contact_id


def test_closing_windows_soonest_first_within_the_horizon_with_what_follows(now: datetime) -> None:
    def contact(cid: str, wrote: dict[Channel, datetime]) -> Contact:
        return Contact(
            id=cid,
            identities={channel: "x" for channel in wrote},
            conversation=Conversation(status=ConversationStatus.OPEN, last_inbound_at=wrote),
        )

    soon = contact("0-1", {Channel.WHATSAPP: now - 23 * HOUR})  # closes in 1 h
    later = contact("0-2", {Channel.MESSENGER: now - timedelta(days=6, hours=20)})  # in 4 h
    far = contact("0-3", {Channel.WHATSAPP: now - 2 * HOUR})  # in 22 h: not yet
    closed = contact("0-4", {Channel.WHATSAPP: now - 25 * HOUR})  # already closed
    viber = contact("0-5", {Channel.VIBER: now - 23 * HOUR})  # text still goes afterwards
    tags = PolicySettings(messenger_tags=("CUSTOMER_FEEDBACK",))
    found = closing_windows([far, later, closed, viber, soon], now, tags)
    assert [(w.contact.id, w.channel, w.after) for w in found] == [
        ("0-1", Channel.WHATSAPP, SendMode.TEMPLATE),
        ("0-2", Channel.MESSENGER, SendMode.MESSAGE_TAG),
    ]
    assert found[0].closes_at == now + HOUR
    no_tags = closing_windows([later], now, PolicySettings())
    assert no_tags[0].after is SendMode.REFUSED


def test_a_window_where_the_customer_cannot_be_reached_is_no_deadline(now: datetime) -> None:
    contact = Contact(
        id="0-1",
        identities={Channel.MESSENGER: "psid-1", Channel.WHATSAPP: "971501234567"},
        conversation=Conversation(
            status=ConversationStatus.OPEN,
            last_inbound_at={
                Channel.MESSENGER: now - timedelta(days=6, hours=23),
                Channel.WHATSAPP: now - 23 * HOUR,
            },
        ),
        reachability={
            Channel.MESSENGER: Unreachable(UnreachableReason.UNAVAILABLE, now, "551"),
            # Marketing stopped: templates still go, so the window still matters.
            Channel.WHATSAPP: Unreachable(UnreachableReason.MARKETING_STOPPED, now, "131050"),
        },
    )
    found = closing_windows([contact], now, PolicySettings())
    assert [w.channel for w in found] == [Channel.WHATSAPP]


async def test_an_agents_desk(env: StoreEnv, now: datetime) -> None:
    mine = [
        await open_contact(env, now, n, "U_A", {Channel.WHATSAPP: now - n * HOUR})
        for n in range(1, 4)
    ]
    await open_contact(env, now, 9, "U_B")
    conversations = ConversationService(env.contacts, lambda: now, close_unassigns=False)
    await conversations.close(mine[2], "U_A")
    reopened = await open_contact(env, now, 8, "U_A")
    await conversations.close(reopened, "U_A")
    await conversations.reopen(reopened, "U_A")  # closed, then reopened: open, not "closed"

    home = await home_service(env, now).home("U_A", manager=False, limits=HomeLimits(open=1))

    assert [c.contact.id for c in home.open.items] == [mine[0]]  # newest customer message first
    assert home.open.total == 3 and home.open.more == 2
    assert [d.channel for d in home.open.items[0].decisions] == [
        Channel.WHATSAPP,
        Channel.MESSENGER,
    ]
    assert [c.id for c in home.closed.items] == [mine[2]]
    assert home.team is None


async def test_the_team_view_counts_every_agents_conversations_reading_few(
    env: StoreEnv, now: datetime
) -> None:
    for n in range(5):
        await open_contact(env, now, n, "U_BUSY", {Channel.WHATSAPP: now - 20 * HOUR - n * HOUR})
    await open_contact(env, now, 10, "U_CALM")
    limits = HomeLimits(agents=1, per_agent=1, team_read_per_agent=2)

    team = await home_service(env, now).team(limits)

    assert team.total == 2 and team.more == 1 and team.open_total == 6
    [busy] = team.items
    assert busy.agent == "U_BUSY"
    assert busy.open.total == 5  # counted from the index ...
    assert len(busy.open.items) == 1
    assert 1 <= busy.closing.total <= 2  # ... windows from the few conversations read
