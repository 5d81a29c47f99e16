"""The language of each answer: App Home choice, else the Slack locale, else the default.

SPEC "Slack surface" (Slack's own interface has no Arabic, so the choice on
App Home matters); issue 4, item 8.
"""

from __future__ import annotations

from bot.slack import ids
from tests.slack.conftest import AGENT, Surface


async def test_a_first_command_is_answered_in_the_slack_locale(surface: Surface) -> None:
    surface.slack.users[AGENT] = {"id": AGENT, "locale": "ar-SA"}

    status, ack, _ = await surface.command(ids.FIND_CONTACT, "s")

    assert status == 200
    assert ack["text"].startswith("اكتب")  # the query error, in Arabic
    assert len(surface.slack.calls_to("users.info")) == 1


async def test_a_locale_we_do_not_speak_falls_back_to_the_default(surface: Surface) -> None:
    surface.slack.users[AGENT] = {"id": AGENT, "locale": "ja-JP"}

    _, ack, _ = await surface.command(ids.FIND_CONTACT, "s")

    assert ack["text"] == "Type at least 2 characters."


async def test_the_app_home_choice_wins_over_the_locale(surface: Surface) -> None:
    surface.slack.users[AGENT] = {"id": AGENT, "locale": "en-US"}
    await surface.deps.people.pick_language(AGENT, "ar")

    _, ack, _ = await surface.command(ids.FIND_CONTACT, "s")

    assert ack["text"].startswith("اكتب")


async def test_slack_not_saying_costs_one_question_not_one_per_request(surface: Surface) -> None:
    # users.info answers user_not_found for a user the fake does not know.
    for _ in range(3):
        _, ack, _ = await surface.command(ids.FIND_CONTACT, "s")
        assert ack["text"] == "Type at least 2 characters."

    assert len(surface.slack.calls_to("users.info")) == 1
