"""Serving: Socket Mode against a local WebSocket server, and a start-up that needs no network.

With SLACK_APP_TOKEN set, `serve` connects out (`apps.connections.open` on
SLACK_API_URL with the app token, then the WebSocket it names) and answers
Slack's envelopes with acks on the socket; `/slack/events` is closed, since
nothing would check a signature there. Authorised from settings (no `auth.test`),
the app starts and answers with SLACK_API_URL unreachable.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from bot.domain.channels import Channel
from bot.slack import ids
from tests.fakes.slack import FakeSlack
from tests.fakes.socket_mode import FakeSocketMode
from tests.slack.conftest import AGENT, TEAM, Surface, running_surface, texts

#: Slack's limit for an acknowledgement (https://api.slack.com/apis/socket-mode).
ACK_SECONDS = 3.0


@pytest_asyncio.fixture(loop_scope="session")
async def link(slack: FakeSlack) -> AsyncIterator[FakeSocketMode]:
    fake = await FakeSocketMode().start()
    slack.socket_url = fake.url()
    try:
        yield fake
        assert not fake.violations, fake.violations
    finally:
        await fake.close()


def command_payload(
    slack: FakeSlack, name: str, text: str, *, user: str = AGENT
) -> tuple[dict[str, Any], str]:
    """A slash command's payload as Socket Mode carries it, and its response_url."""
    url = slack.response_url()
    payload = {
        "token": "deprecated",
        "team_id": TEAM,
        "team_domain": "example",
        "channel_id": "C0GENERAL",
        "channel_name": "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": name,
        "text": text,
        "api_app_id": "A0APP",
        "is_enterprise_install": "false",
        "response_url": url,
        "trigger_id": f"{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:8]}",
    }
    return payload, url


async def sara(surface: Surface) -> str:
    return await surface.contact(
        "Sara",
        "Ahmed",
        phone="+971501234567",
        identities={Channel.WHATSAPP: "971501234567"},
        assignee=AGENT,
        last_inbound={Channel.WHATSAPP: surface.now},
    )


async def test_serve_connects_over_socket_mode_and_a_command_is_acked_then_answered(
    redis_url: str, slack: FakeSlack, link: FakeSocketMode
) -> None:
    async with running_surface(
        redis_url, slack, slack_app_token=slack.app_token, slack_signing_secret=None
    ) as surface:
        await link.wait_connected()
        [opened] = slack.calls_to("apps.connections.open")  # with the app token (the fake checks)
        await sara(surface)

        payload, url = command_payload(slack, ids.FIND_CONTACT, "sara")
        ack = await link.request("slash_commands", payload, within=ACK_SECONDS)
        await surface.settle()

    assert ack.payload in (None, {})  # a plain ack: the results come after
    assert ack.seconds < ACK_SECONDS
    [answer] = slack.answers_to(url)
    assert answer["response_type"] == "ephemeral"
    assert "Sara Ahmed" in texts(answer["blocks"])
    assert opened.args == {}  # the app token travels in the header only
    assert link.open_sockets == 0  # closed at shutdown


async def test_a_bad_query_and_a_bad_modal_submission_answer_in_the_ack_payload(
    redis_url: str, slack: FakeSlack, link: FakeSocketMode
) -> None:
    async with running_surface(redis_url, slack, slack_app_token=slack.app_token) as surface:
        await link.wait_connected()

        payload, url = command_payload(slack, ids.FIND_CONTACT, "s")
        short = await link.request("slash_commands", payload)
        assert short.payload is not None and short.payload["response_type"] == "ephemeral"
        assert "at least 2 characters" in short.payload["text"]

        payload, _ = command_payload(slack, ids.FIND_CONTACT, "")
        opened = await link.request("slash_commands", payload)
        await surface.settle()
        view = surface.last_view()
        assert opened.payload in (None, {}) and view["callback_id"] == ids.SEARCH_VIEW

        values = {
            "q": {ids.SEARCH_QUERY: {"type": "plain_text_input", "value": "h"}},
            "scope": {ids.SEARCH_SCOPE: {"selected_option": {"value": "all"}}},
            "status": {ids.SEARCH_STATUS: {"selected_option": {"value": "any"}}},
            "sort": {ids.SEARCH_SORT: {"selected_option": {"value": "recent"}}},
        }
        submission = {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "example"},
            "user": {"id": AGENT, "username": AGENT.lower(), "team_id": TEAM},
            "api_app_id": "A0APP",
            "trigger_id": "1.trig",
            "view": dict(view, state={"values": values}),
        }
        refused = await link.request("interactive", submission)

    assert refused.payload is not None and refused.payload["response_action"] == "errors"
    assert "q" in refused.payload["errors"]
    assert slack.answers_to(url) == []


async def test_after_a_disconnect_message_the_app_reconnects_and_keeps_answering(
    redis_url: str, slack: FakeSlack, link: FakeSocketMode
) -> None:
    async with running_surface(redis_url, slack, slack_app_token=slack.app_token) as surface:
        await link.wait_connected()
        await sara(surface)

        await link.disconnect("refresh_requested")
        await link.wait_connected(count=2, within=10)
        payload, url = command_payload(slack, ids.FIND_CONTACT, "sara")
        ack = await link.request("slash_commands", payload)
        await surface.settle()

    assert ack.seconds < ACK_SECONDS
    assert len(slack.calls_to("apps.connections.open")) == 2  # a fresh URL for the new socket
    assert "Sara Ahmed" in texts(slack.answers_to(url)[0]["blocks"])


async def test_a_non_agent_is_refused_in_the_ack_payload(
    redis_url: str, slack: FakeSlack, link: FakeSocketMode
) -> None:
    async with running_surface(
        redis_url, slack, slack_app_token=slack.app_token, agents="U0SOMEONE"
    ) as surface:
        await link.wait_connected()
        payload, url = command_payload(slack, ids.FIND_CONTACT, "sara")
        ack = await link.request("slash_commands", payload)
        await surface.settle()

    assert ack.payload is not None and ack.payload["response_type"] == "ephemeral"
    assert ack.payload["text"]
    assert slack.answers_to(url) == []


async def test_in_socket_mode_the_http_endpoint_takes_no_slack_request(
    redis_url: str, slack: FakeSlack, link: FakeSocketMode
) -> None:
    async with running_surface(redis_url, slack, slack_app_token=slack.app_token) as surface:
        await link.wait_connected()
        await sara(surface)
        url = slack.response_url()
        body = f"command=%2Ffind-contact&text=sara&user_id={AGENT}&response_url={url}"
        unsigned = await surface.client.post(
            "/slack/events",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        signed = await surface.post(body, "application/x-www-form-urlencoded")
        await surface.settle()

    assert unsigned.status == 404 and signed.status == 404
    assert slack.answers_to(url) == []


def refusing_port() -> int:
    """A local port nothing listens on: a connection there is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_start_up_and_a_command_make_no_web_api_call(
    redis_url: str, slack: FakeSlack
) -> None:
    """SLACK_API_URL unreachable (offline): the app starts, authorises from settings
    (no `auth.test`) and answers within the 3 seconds; asking Slack for the user's
    locale fails and costs only the default language, and the results go to the
    response_url, after the ack."""
    offline = f"http://127.0.0.1:{refusing_port()}/api/"
    async with running_surface(redis_url, slack, slack_api_url=offline) as surface:
        await sara(surface)
        started = time.monotonic()
        status, ack, url = await surface.command(ids.FIND_CONTACT, "sara")
        acked_in = time.monotonic() - started
        await surface.settle()
        # The work that does need Slack's Web API fails there, after its ack.
        status_modal, ack_modal, _ = await surface.command(ids.FIND_CONTACT, "")
        await surface.settle()

    assert status == 200 and ack == {} and acked_in < ACK_SECONDS
    [answer] = slack.answers_to(url)
    assert "Sara Ahmed" in texts(answer["blocks"]) and answer["text"].startswith("Results")
    assert status_modal == 200 and ack_modal == {}
    assert slack.calls == []  # nothing reached a Web API, and nothing was asked of one


async def test_socket_mode_acks_within_3_seconds_under_a_burst(
    redis_url: str, slack: FakeSlack, link: FakeSocketMode
) -> None:
    """Fifty commands at once over one socket: every ack inside Slack's 3 seconds."""
    async with running_surface(redis_url, slack, slack_app_token=slack.app_token) as surface:
        await link.wait_connected()
        await sara(surface)
        sent = [command_payload(slack, ids.FIND_CONTACT, "sara") for _ in range(50)]
        waiting = [await link.send("slash_commands", payload) for payload, _ in sent]
        async with asyncio.timeout(ACK_SECONDS):
            acks = await asyncio.gather(*waiting)
        await surface.settle()

    assert max(a.seconds for a in acks) < ACK_SECONDS
    for _, url in sent:
        assert "Sara Ahmed" in texts(slack.answers_to(url)[0]["blocks"])


async def test_an_event_is_acked_without_a_payload_and_handled(
    redis_url: str, slack: FakeSlack, link: FakeSocketMode
) -> None:
    """Events API envelopes accept no payload in their ack; the Home tab is drawn after."""
    async with running_surface(redis_url, slack, slack_app_token=slack.app_token) as surface:
        await link.wait_connected()
        envelope = {
            "token": "deprecated",
            "team_id": TEAM,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10]}",
            "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": AGENT, "tab": "home"},
        }
        answered = await link.send("events_api", envelope)
        async with asyncio.timeout(ACK_SECONDS):
            ack = await answered
        await surface.settle()

    assert ack.payload is None
    assert AGENT in slack.home  # views.publish drew the agent's Home tab
