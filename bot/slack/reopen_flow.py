"""The reopen flow's Slack side, shared by `/reopen` and the reopen buttons:
reopen for the agent and answer with the card (or the takeover question), and
refresh the Home tabs the change touches."""

from __future__ import annotations

from bot.domain.clock import Clock
from bot.services.directory import Directory
from bot.services.finding import ContactFinder
from bot.services.reopen import ContactNotFound, ReopenOutcome, ReopenService
from bot.slack import ids
from bot.slack.answers import Reply
from bot.slack.background import Background
from bot.slack.blocks.contact_blocks import choices_message, text_message, views_of
from bot.slack.blocks.reopen_blocks import reopen_card, takeover_question
from bot.slack.home import HomeTabs
from bot.slack.i18n import t
from bot.slack.render import escape


class ReopenFlow:
    def __init__(
        self,
        reopener: ReopenService,
        directory: Directory,
        finder: ContactFinder,
        home: HomeTabs,
        background: Background,
        clock: Clock,
    ) -> None:
        self.reopener = reopener
        self.directory = directory
        self.finder = finder
        self.home = home
        self.background = background
        self.clock = clock

    async def reopen(
        self,
        contact_id: str,
        agent: str,
        lang: str,
        reply: Reply,
        *,
        confirm_takeover: bool = False,
        quiet_success: bool = False,
    ) -> None:
        """Reopen for `agent` and answer with the card (or the takeover question).

        `quiet_success`: from App Home, whose refresh shows the result, only a
        question or a problem is sent.
        """
        try:
            result = await self.reopener.reopen(
                contact_id, agent, confirm_takeover=confirm_takeover
            )
        except ContactNotFound:
            await reply(*text_message(t("reopen.gone", lang)))
            return
        if result.outcome is ReopenOutcome.NEEDS_TAKEOVER:
            await reply(*takeover_question(result, lang))
            return
        if not quiet_success:
            await reply(*reopen_card(result, self.clock(), lang))
        if result.outcome is not ReopenOutcome.ALREADY_YOURS:
            self.background.run(self.home.publish(agent))
            previous = result.previous_assignee
            if result.outcome is ReopenOutcome.TAKEN_OVER and previous:
                self.background.run(self.home.publish(previous))

    async def lookup_and_reopen(self, query: str, agent: str, lang: str, reply: Reply) -> None:
        """`<contact>` names one contact (reopen it), several (choose) or none (say so)."""
        lookup = await self.directory.lookup(query)
        if lookup.error is not None:
            text, blocks = text_message(t(lookup.error.key, lang, **lookup.error.params))
        elif lookup.contact is not None:
            await self.reopen(lookup.contact.id, agent, lang, reply)
            return
        elif lookup.choices:
            decisions = await self.finder.decided(lookup.choices)
            text, blocks = choices_message(
                query,
                views_of(lookup.choices, decisions),
                more=lookup.more,
                action_id=ids.CONTACT_CHOOSE_REOPEN,
                now=self.clock(),
                lang=lang,
            )
        else:
            text, blocks = text_message(t("lookup.not_found", lang, query=escape(query)))
        await reply(text, blocks)
