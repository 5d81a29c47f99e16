"""App Home: the agent's desk (and the team's for managers), and the language choice.

`HomeTabs.publish(user_id)` renders and publishes one user's Home tab; it
runs on `app_home_opened` and after the agent's actions (reopen, close, a
follow-up sent, a language picked), and other listeners call it too.

The views themselves are built in `bot.slack.blocks.home`.
"""

from __future__ import annotations

from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.clock import Clock
from bot.services.home import Home, HomeService
from bot.services.people import People
from bot.services.scheduling import Scheduling
from bot.slack.blocks.home import home_view, not_agent_view, team_view
from bot.slack.blocks.schedule import waiting_blocks
from bot.slack.links import ThreadLinks

#: Waiting items shown on a Home tab (two blocks each; Slack allows 100 in all).
WAITING_SHOWN = 8


class HomeTabs:
    """Publishes users' Home tabs, rendered from the store as it is now."""

    def __init__(
        self,
        service: HomeService,
        people: People,
        links: ThreadLinks,
        client: AsyncWebClient,
        clock: Clock,
        scheduling: Scheduling | None = None,
    ) -> None:
        self.service = service
        self.people = people
        self.links = links
        self.client = client
        self.clock = clock
        self.scheduling = scheduling

    async def _waiting(self, agent: str | None, lang: str) -> list[Block]:
        """What `agent` (None: the team) has scheduled, soonest first."""
        if self.scheduling is None:
            return []
        if agent is None:
            items = await self.scheduling.waiting_for_team(WAITING_SHOWN + 1)
        else:
            items = await self.scheduling.waiting_for_agent(agent, WAITING_SHOWN + 1)
        waiting = await self.scheduling.described(items)
        return waiting_blocks(
            waiting.items,
            waiting.contacts,
            waiting.zones,
            lang,
            team=agent is None,
            limit=WAITING_SHOWN,
        )

    async def publish(self, user_id: str) -> None:
        """Render `user_id`'s Home tab from the store as it is now, and publish it."""
        lang = await self.people.language(user_id)
        manager = await self.people.is_manager(user_id)
        if not await self.people.is_agent(user_id):
            # A team lead who is not an agent still follows the team; others get a polite page.
            team = (
                team_view(
                    await self.service.team(), self.clock(), lang, await self._waiting(None, lang)
                )
                if manager
                else None
            )
            await self.client.views_publish(user_id=user_id, view=team or not_agent_view(lang))
            return
        home = await self.service.home(user_id, manager=manager)
        links = await self.links.of(thread_roots(home))
        picked = await self.people.picked_language(user_id)
        view = home_view(
            home,
            links=links,
            picked=picked,
            now=self.clock(),
            lang=lang,
            waiting=await self._waiting(user_id, lang),
            team_waiting=await self._waiting(None, lang) if manager else [],
        )
        await self.client.views_publish(user_id=user_id, view=view)


def thread_roots(home: Home) -> set[str]:
    """The threads the Home tab links to (each conversation shown with buttons)."""
    contacts = [
        *(c.contact for c in home.open.items),
        *(w.contact for w in home.closing.items),
        *home.closed.items,
    ]
    return {c.conversation.thread_ts for c in contacts if c.conversation.thread_ts}
