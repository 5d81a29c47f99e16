"""Finding contacts for the commands: `/find-contact` arguments, and `<contact>` lookups.

`/find-contact [query] [--all] [--open|--any] [--by-name]`: the query and its
filters, with the SPEC's defaults (My inbox, Closed, newest customer message
first). `/reopen <contact>` and `/followup <contact> [message]`: a contact id,
phone, e-mail or name that names exactly one contact, several (the agent
chooses) or none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.domain.contacts import QueryError
from bot.domain.models import Contact, ConversationStatus
from bot.store.contacts import ContactStore
from bot.store.search import ContactSearch, Scope, SearchFilters, SearchPage, SortOrder

#: Results per page of `/find-contact` (each result is a few blocks; phones scroll).
PAGE_SIZE = 5
#: How many matches an ambiguous `<contact>` offers to choose from.
CHOICES = 5

#: How many leading words of `/followup <contact> [message]` may name the contact,
#: longest first.
HEAD_WORDS = (3, 2, 1)

CONTACT_ID = re.compile(r"^\d{1,4}-[0-9a-f]{1,16}$")

_FLAGS: dict[str, dict[str, object]] = {
    "--all": {"scope": Scope.ALL},
    "--mine": {"scope": Scope.MINE},
    "--open": {"status": ConversationStatus.OPEN},
    "--closed": {"status": ConversationStatus.CLOSED},
    "--any": {"status": None},
    "--by-name": {"sort": SortOrder.NAME},
    "--recent": {"sort": SortOrder.RECENT},
}


@dataclass(frozen=True)
class FindArgs:
    """A parsed `/find-contact` line."""

    query: str = ""
    scope: Scope = Scope.MINE
    status: ConversationStatus | None = ConversationStatus.CLOSED
    sort: SortOrder = SortOrder.RECENT
    unknown_flags: tuple[str, ...] = ()

    def filters(self, agent: str) -> SearchFilters:
        return SearchFilters(scope=self.scope, agent=agent, status=self.status, sort=self.sort)


def widened(args: FindArgs) -> FindArgs | None:
    """The same search over All inboxes and any status; None when it is that already."""
    if args.scope is Scope.ALL and args.status is None:
        return None
    return replace(args, scope=Scope.ALL, status=None)


def no_results_hint(args: FindArgs) -> str:
    """The catalogue key of what to try when nothing was found: only the flags
    the agent has not given already (`--all` widens the inbox, `--any` the
    status), else a shorter query."""
    widen_inbox = args.scope is Scope.MINE
    widen_status = args.status is not None
    if widen_inbox and widen_status:
        return "search.hint_all"
    if widen_inbox:
        return "search.hint_all_only"
    if widen_status:
        return "search.hint_any"
    return "search.hint_shorter"


def parse_find_args(text: str) -> FindArgs:
    """Split flags (anywhere in the line) from the query words."""
    args = FindArgs()
    words: list[str] = []
    unknown: list[str] = []
    for word in text.split():
        flag = word.lower().replace("—", "--").replace("–", "--")  # phones type dashes
        if flag in _FLAGS:
            args = replace(args, **_FLAGS[flag])  # type: ignore[arg-type]
        elif flag.startswith("--"):
            unknown.append(word)
        else:
            words.append(word)
    return replace(args, query=" ".join(words), unknown_flags=tuple(unknown))


@dataclass(frozen=True)
class Lookup:
    """What a `<contact>` argument named: one contact, several, or none."""

    contact: Contact | None = None
    choices: tuple[Contact, ...] = ()
    more: bool = False  # more matches than `choices` holds
    error: QueryError | None = None

    @property
    def ambiguous(self) -> bool:
        return self.contact is None and len(self.choices) > 1


class Directory:
    def __init__(self, contacts: ContactStore, search: ContactSearch) -> None:
        self.contacts = contacts
        self.search = search

    async def find(
        self, args: FindArgs, agent: str, *, offset: int = 0, limit: int = PAGE_SIZE
    ) -> SearchPage:
        """One page of `/find-contact` results (raises QueryError on bad input)."""
        return await self.search.search(args.query, args.filters(agent), offset=offset, limit=limit)

    async def find_or_widen(
        self, args: FindArgs, agent: str, *, offset: int = 0, limit: int = PAGE_SIZE
    ) -> tuple[SearchPage, FindArgs | None]:
        """`find`; when its first page is empty, what All inboxes / any status finds.

        Returns the page and, when the widened search ran, the widened
        arguments (its "More" pages continue them; when it found nothing too,
        the answer names the widest search, so its hint never suggests a flag
        already known to find nothing); else None. A search that is already
        the widest is not asked twice.
        """
        page = await self.find(args, agent, offset=offset, limit=limit)
        wider = widened(args)
        if page.contacts or offset or wider is None:
            return page, None
        return await self.find(wider, agent, limit=limit), wider

    async def lookup(self, text: str) -> Lookup:
        """The contact `text` names: an id, or a search over every inbox and status."""
        [lookup] = await self.lookup_many([text])
        return lookup

    async def lookup_many(self, texts: Sequence[str]) -> list[Lookup]:
        """`lookup` for each text, the searches in one round trip."""
        texts = [text.strip() for text in texts]
        ids = [text for text in texts if CONTACT_ID.match(text)]
        by_id: dict[str, Contact] = {c.id: c for c in await self.contacts.get_many(ids)}
        searched = [text for text in texts if text not in by_id]
        pages = await self.search.search_many(
            searched,
            SearchFilters(scope=Scope.ALL, status=None, sort=SortOrder.RECENT),
            limit=CHOICES,
        )
        answers = dict(zip(searched, pages, strict=True))
        lookups: list[Lookup] = []
        for text in texts:
            if text in by_id:
                lookups.append(Lookup(contact=by_id[text]))
                continue
            page = answers[text]
            if isinstance(page, QueryError):
                lookups.append(Lookup(error=page))
            else:
                lookups.append(_named_by(text, page))
        return lookups

    async def split(self, text: str) -> tuple[Lookup, str]:
        """`<contact> [message]`: the longest leading words that name one contact win.

        A phone, e-mail or id is one word; a name may be two or three. The
        rest of the line is the message. Every head is looked up at once (one
        round trip), then judged longest first.
        """
        words = text.split()
        if not words:
            return Lookup(error=QueryError("search.empty_query")), ""
        counts = [count for count in HEAD_WORDS if count <= len(words)]
        lookups = await self.lookup_many([" ".join(words[:count]) for count in counts])
        tried = [
            (lookup, _after_words(text, count))
            for lookup, count in zip(lookups, counts, strict=True)
        ]
        for lookup, rest in tried:
            if lookup.contact is not None:
                return lookup, rest
        # None named one contact: the longest head with matches to choose from,
        # else the one-word answer (its error or "not found").
        for lookup, rest in tried:
            if lookup.choices:
                return lookup, rest
        return tried[-1]


def _named_by(text: str, page: SearchPage) -> Lookup:
    """What a lookup's search page names: its only match, its one exact match, or choices."""
    found = tuple(page.contacts)
    exact = [c for c in found if _names_exactly(c, text)]
    if len(found) == 1:
        return Lookup(contact=found[0])
    if len(exact) == 1:
        return Lookup(contact=exact[0])
    return Lookup(choices=found, more=page.next_offset is not None)


def _after_words(text: str, count: int) -> str:
    """`text` after its first `count` words, line breaks kept."""
    head = re.match(rf"\s*(?:\S+\s*){{{count}}}", text)
    return text[head.end() :].strip() if head else ""


def _names_exactly(contact: Contact, text: str) -> bool:
    """The query is the contact's whole name, e-mail or phone (case-insensitive)."""
    wanted = text.strip().casefold()
    return wanted in {
        contact.name.casefold(),
        (contact.email or "").casefold(),
        (contact.phone or "").casefold(),
    }
