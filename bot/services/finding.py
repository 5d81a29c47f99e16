"""Finding contacts for an agent: `/find-contact`, its modal and its *More* pages,
and the contacts a lookup offers to choose from, each with its windows decided."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.contacts import QueryError, parse_query
from bot.domain.models import Contact
from bot.domain.windows import Decision
from bot.services.directory import Directory, FindArgs
from bot.services.followup import FollowupService


@dataclass(frozen=True)
class Found:
    """One page of results, with each contact's window decisions."""

    #: What the page shows: the agent's search, or the widened one.
    args: FindArgs
    #: The agent's own search, when it found nothing and `args` is the widened one.
    widened_from: FindArgs | None
    contacts: Sequence[Contact]
    decisions: Sequence[Sequence[Decision]]
    next_offset: int | None
    truncated: bool


class ContactFinder:
    def __init__(
        self, directory: Directory, followups: FollowupService, default_region: str | None
    ) -> None:
        self.directory = directory
        self.followups = followups
        self.default_region = default_region

    def problem(self, args: FindArgs) -> QueryError | None:
        """Why this search cannot run (its catalogue key), or None when it can."""
        if args.unknown_flags:
            return QueryError("search.unknown_flag", flags=" ".join(args.unknown_flags))
        try:
            parse_query(args.query, self.default_region)
        except QueryError as error:
            return error
        return None

    async def find(self, args: FindArgs, agent: str, offset: int = 0) -> Found:
        """One page; when the agent's scope finds nothing, what All inboxes / any
        status finds, labelled as such (SPEC "Finding a contact")."""
        page, wider = await self.directory.find_or_widen(args, agent, offset=offset)
        return Found(
            args=wider or args,
            widened_from=args if wider else None,
            contacts=page.contacts,
            decisions=await self.followups.decisions_for_many(page.contacts),
            next_offset=page.next_offset,
            truncated=page.truncated,
        )

    async def decided(self, contacts: Sequence[Contact]) -> list[list[Decision]]:
        """Each contact's window decisions (the Viber count is read once)."""
        return await self.followups.decisions_for_many(contacts)

    async def get(self, contact_id: str) -> Contact | None:
        """The contact as stored now (None: deleted or never was)."""
        return await self.directory.contacts.get(contact_id)

    async def by_thread(self, thread_ts: str) -> Contact | None:
        """The contact whose conversation thread starts at `thread_ts`."""
        return await self.directory.contacts.find_by_thread(thread_ts)
