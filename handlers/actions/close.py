"""*Close* on App Home (after Slack's confirmation dialog): close the conversation.

CLOSE_UNASSIGNS decides whether the assignee stays; the thread says who
closed it. The Home tabs of the closer and of the assignee are refreshed.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.slack import ids
from bot.slack.app import SlackDeps, respond
from bot.slack.contact_blocks import text_message
from bot.slack.home import publish_home
from bot.slack.i18n import t
from bot.slack.intake import durable
from bot.slack.render import escape
from bot.store.contacts import ContactNotFound


async def close_and_refresh(
    deps: SlackDeps,
    contact_id: str,
    agent: str,
    lang: str,
    response_url: str | None,
    reason: str | None = None,
) -> None:
    """Close for `agent` (with the reason given, if any); refresh the Home tabs it
    changes; answer where there is a url."""
    try:
        before = await deps.contacts.require(contact_id)
        after = await deps.conversations.close(contact_id, agent, reason)
    except ContactNotFound:
        text = t("reopen.gone", lang)
    else:
        text = t("home.closed_done", lang, name=escape(after.display_name))
        await publish_home(deps, agent)
        assignee = before.conversation.assignee
        if assignee and assignee != agent:
            deps.background.run(publish_home(deps, assignee))
    if response_url is not None:
        message, blocks = text_message(text)
        await respond(deps, response_url, message, blocks)


#: The intake kind (bot.slack.intake) of App Home's *Close*.
KIND = "action.close"


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def close(body: dict[str, Any], lang: str) -> None:
        url = body.get("response_url")
        await close_and_refresh(
            deps,
            str(body["actions"][0]["value"]),
            str(body["user"]["id"]),
            lang,
            url if isinstance(url, str) else None,
        )

    deps.intake.on(KIND, close)
    app.action(ids.CONTACT_CLOSE)(durable(deps.intake, KIND))
