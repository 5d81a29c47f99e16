"""Shortcuts (`handlers/shortcuts/`): "Follow up with this customer" on a thread's message.

Scenarios in the style of bolt-python's `tests/scenario_tests_async/`: signed
requests into `serve`'s real web app (`tests.slack.conftest.Surface`), the local
fake Slack Web API (`tests.fakes.slack`), a real Redis.
"""

from __future__ import annotations

from typing import Any

from bot.domain.channels import Channel
from bot.slack import ids
from bot.slack.blocks.compose_context import BLOCK_TEXT
from bot.slack.mrkdwn import plain_text_of
from bot.slack.threads import PosterTuning
from tests.slack.compose_steps import messages_of, submit
from tests.slack.conftest import AGENT, OTHER_AGENT, SUPPORT_CHANNEL, Surface, texts
from tests.slack.thread_poster import thread_poster

# --- followup shortcut ------------------------------------------------
#
# The message shortcut "Follow up with this customer", inside a conversation's thread.
#
# SPEC "Slack surface": Slack forbids slash commands in threads; agents' replies
# there are internal notes, and nothing reaches a customer without an explicit
# send. Issue 4, item 5.


FAST = PosterTuning(post_rate=1000, post_burst=1000, update_rate=1000, update_burst=1000)


async def thread_ts_of(surface: Surface, contact_id: str) -> str:
    """The contact's thread, created by the thread poster as in production."""
    deps = surface.deps
    await deps.threads.root_changed(contact_id)
    poster = thread_poster(
        deps.redis, deps.keys, deps.client, SUPPORT_CHANNEL, lambda: surface.now, tuning=FAST
    )
    await poster.flush()
    ts = (await deps.contacts.require(contact_id)).conversation.thread_ts
    assert ts is not None
    return ts


async def use_shortcut(
    surface: Surface,
    message: dict[str, Any],
    *,
    channel: str = SUPPORT_CHANNEL,
    user: str = AGENT,
) -> str:
    """The agent picks "Follow up with this customer" on `message`; the response_url."""
    url = surface.slack.response_url()
    status, ack = await surface.interact(
        {
            "type": "message_action",
            "callback_id": ids.FOLLOWUP_SHORTCUT,
            "user": {"id": user, "username": user.lower(), "team_id": "T0TEAM"},
            "channel": {"id": channel, "name": "support"},
            "message_ts": message["ts"],
            "message": {"type": "message", **message},
            "response_url": url,
        }
    )
    await surface.settle()
    assert status == 200 and ack == {}
    return url


def text_input(view: dict[str, Any]) -> dict[str, Any]:
    block = next(b for b in view["blocks"] if b.get("block_id") == BLOCK_TEXT)
    element: dict[str, Any] = block["element"]
    return element


async def test_the_thread_s_contact_is_found_from_its_root_even_after_a_new_period(
    surface: Surface,
) -> None:
    cid = await surface.contact("Sara", "Ahmed", identities={Channel.TELEGRAM: "7201"})
    first = await thread_ts_of(surface, cid)

    found = await surface.deps.contacts.find_by_thread(first)
    assert found is not None and found.id == cid
    await surface.deps.conversations.reopen(cid, AGENT)  # a new open period, a new thread
    second = await thread_ts_of(surface, cid)

    assert second != first
    for ts in (first, second):
        found = await surface.deps.contacts.find_by_thread(ts)
        assert found is not None and found.id == cid
    assert await surface.deps.contacts.find_by_thread("1790000000.000001") is None


async def test_on_the_agent_s_own_reply_the_composer_is_prefilled_with_it(
    surface: Surface,
) -> None:
    cid = await surface.contact("Sara", "Ahmed", identities={Channel.TELEGRAM: "7202"})
    root = await thread_ts_of(surface, cid)
    reply = {
        "ts": "1795000999.000100",
        "thread_ts": root,
        "user": AGENT,
        "text": "Fixed in &lt;v2.3&gt;: see <https://status.example.com|status.example.com>",
    }

    await use_shortcut(surface, reply)

    view = surface.last_view()
    assert view["callback_id"] == ids.COMPOSE_VIEW and "Sara Ahmed" in texts(view["blocks"])
    assert text_input(view)["initial_value"] == "Fixed in <v2.3>: see https://status.example.com"
    # The reply is an internal note: nothing is sent until the agent sends it.
    assert await messages_of(surface, cid) == []

    await submit(surface, view)

    [message] = await messages_of(surface, cid)
    assert message.content.text == "Fixed in <v2.3>: see https://status.example.com"
    told = surface.slack.calls_to("chat.postEphemeral")[-1].args
    assert (told["channel"], told["thread_ts"]) == (SUPPORT_CHANNEL, root)


async def test_on_someone_else_s_message_or_the_root_the_composer_starts_empty(
    surface: Surface,
) -> None:
    cid = await surface.contact("Sara", "Ahmed", identities={Channel.TELEGRAM: "7203"})
    root = await thread_ts_of(surface, cid)
    colleague = {"ts": "1795000999.000200", "thread_ts": root, "user": OTHER_AGENT, "text": "Hm"}
    bot_root = {"ts": root, "bot_id": "B0APP", "text": "Sara Ahmed"}

    for message in (colleague, bot_root):
        await use_shortcut(surface, message)
        view = surface.last_view()
        assert view["callback_id"] == ids.COMPOSE_VIEW
        assert "initial_value" not in text_input(view)


async def test_outside_a_conversation_thread_it_explains(surface: Surface) -> None:
    await surface.contact("Sara", "Ahmed", identities={Channel.TELEGRAM: "7204"})
    elsewhere = {"ts": "1795000999.000300", "user": AGENT, "text": "lunch?"}

    url = await use_shortcut(surface, elsewhere, channel="C0RANDOM")
    unknown = await use_shortcut(surface, elsewhere)  # the support channel, no thread of ours

    for answered in (url, unknown):
        [answer] = surface.slack.answers_to(answered)
        assert "not in a customer conversation's thread" in answer["text"]
    assert surface.slack.calls_to("views.open") == []


def test_slack_markup_becomes_plain_text_for_the_customer() -> None:
    assert plain_text_of("<mailto:help@example.com|help@example.com>") == "help@example.com"
    assert plain_text_of("ask <@U0AGENT2|omar> &amp; me") == "ask @omar & me"
    assert plain_text_of("<!here> see <https://x.example/a|the guide>") == (
        "@here see the guide (https://x.example/a)"
    )
    assert plain_text_of("<#C0SUPPORT|support>") == "#support"
