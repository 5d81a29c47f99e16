"""Matching rows to contacts and writing them, or counting what would change (dry run).

A row joins the contact that already holds one of its channel identities, its
phone or its e-mail (SPEC "Contacts, conversations and threads"), else it
creates one, so running the same file twice changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.domain.channels import Channel
from bot.domain.contacts import (
    IndexTerm,
    TermKind,
)
from bot.domain.models import Contact, Conversation, ConversationStatus
from bot.services.importing.report import ImportReport
from bot.services.importing.rows import ImportRow, RowError, ValidRow, identity_column
from bot.store.contacts import (
    ConcurrentUpdate,
    ContactDraft,
    ContactNotFound,
    ContactStore,
    IdentityTaken,
)

#: Rows looked up and written together (one lookup pipeline, one create pipeline).
BATCH_ROWS = 500
#: Contacts updated concurrently within a batch (each update is a few round trips).
UPDATE_CONCURRENCY = 16
#: Bad rows listed after the summary; the report keeps them all.


def _term_column(term: IndexTerm | str, row: ValidRow) -> str:
    """The column a term came from (`phone` for the SMS identity too)."""
    text = term.term if isinstance(term, IndexTerm) else term
    for candidate in row.terms:
        if candidate.term != text:
            continue
        if candidate.kind is TermKind.PHONE:
            return "phone"
        if candidate.kind is TermKind.EMAIL:
            return "email"
        if candidate.kind is TermKind.IDENTITY:
            return identity_column(Channel(candidate.term.partition(":")[0]))
    return "a channel id"


def _clash(columns: list[str], matched_by: str) -> str:
    """Why a row whose values belong to two different contacts is refused."""
    return "; ".join(
        f"{column}: belongs to a different contact than the {matched_by}"
        if column != matched_by
        else f"{column}: already belongs to another contact"
        for column in columns
    )


@dataclass
class _Group:
    """The rows of a batch that end on one contact (an existing one or a new one)."""

    contact: Contact | None = None
    creator: ValidRow | None = None  # the row that creates the contact
    rows: list[ValidRow] = field(default_factory=list)  # applied as updates, in file order


@dataclass(frozen=True)
class _Details:
    """Arguments of `ContactStore.update_details` (None: keep)."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    identities: dict[Channel, str] | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in vars(self).values())


@dataclass(frozen=True)
class _State:
    """Arguments of `ContactStore.set_state` (None: keep)."""

    status: ConversationStatus | None = None
    assignee: str | None = None
    last_inbound_at: dict[Channel, datetime] | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in vars(self).values())


def _details_change(contact: Contact, draft: ContactDraft) -> _Details:
    """The contact fields a row sets to something new (empty cells keep)."""

    def new(given: str | None, have: str | None) -> str | None:
        return given if given and given != have else None

    identities = {c: v for c, v in draft.identities.items() if contact.identities.get(c) != v}
    return _Details(
        first_name=new(draft.first_name, contact.first_name),
        last_name=new(draft.last_name, contact.last_name),
        email=new(draft.email, contact.email),
        phone=new(draft.phone, contact.phone),
        identities=identities or None,
    )


def _state_change(contact: Contact, row: ImportRow) -> _State:
    """The conversation state a row sets; an older message time than the stored one is kept."""
    conv = contact.conversation
    newer = {
        channel: at
        for channel, at in row.last_inbound_at.items()
        if channel not in conv.last_inbound_at or at > conv.last_inbound_at[channel]
    }
    return _State(
        status=row.status if row.status and row.status is not conv.status else None,
        assignee=row.assignee if row.assignee and row.assignee != conv.assignee else None,
        last_inbound_at=newer or None,
    )


def _simulate(contact: Contact, details: _Details, state: _State) -> Contact:
    """The contact after an update, without writing it (dry run)."""
    conv = contact.conversation
    conversation = replace(
        conv,
        status=state.status or conv.status,
        assignee=state.assignee or conv.assignee,
        last_inbound_at={**conv.last_inbound_at, **(state.last_inbound_at or {})},
    )
    return replace(
        contact,
        first_name=details.first_name or contact.first_name,
        last_name=details.last_name or contact.last_name,
        email=details.email or contact.email,
        phone=details.phone or contact.phone,
        identities={**contact.identities, **(details.identities or {})},
        conversation=conversation,
        version=contact.version + 1,
    )


def _as_contact(key: str, draft: ContactDraft) -> Contact:
    """The contact a draft would create (dry run)."""
    return Contact(
        id=key,
        first_name=draft.first_name,
        last_name=draft.last_name,
        email=draft.email,
        phone=draft.phone,
        identities=dict(draft.identities),
        conversation=Conversation(
            status=draft.status,
            assignee=draft.assignee,
            last_inbound_at=dict(draft.last_inbound_at),
        ),
    )


def _name_only(contact: Contact, draft: ContactDraft) -> bool:
    """A stored contact a name-only row is the same as: same name, nothing else."""
    return (
        not (contact.email or contact.phone or contact.identities)
        and contact.first_name == draft.first_name
        and contact.last_name == draft.last_name
    )


class Importer:
    def __init__(self, store: ContactStore, report: ImportReport, now: datetime) -> None:
        self.store = store
        self.report = report
        self.now = now

    def error(self, line: int, reason: str) -> None:
        self.report.errors.append(RowError(line, reason))

    async def batch(self, rows: list[ValidRow]) -> None:
        """Match, create and update one batch of valid rows."""
        holders = await self.store.find_holders({t for row in rows for t in row.terms})
        ids = sorted({i for found in holders.values() for i in found})
        known = {c.id: c for c in await self.store.get_many(ids)}
        groups = self._group(rows, holders, known)
        creating = [g for g in groups if g.creator is not None]
        await self._create(creating)
        semaphore = asyncio.Semaphore(UPDATE_CONCURRENCY)

        async def update(group: _Group) -> None:
            async with semaphore:
                for row in group.rows:
                    await self._update(group, row)

        await asyncio.gather(*(update(g) for g in groups if g.rows and g.contact is not None))

    def _group(
        self,
        rows: list[ValidRow],
        holders: Mapping[IndexTerm, list[str]],
        known: Mapping[str, Contact],
    ) -> list[_Group]:
        """Assign each row to the contact it ends on, in file order.

        A row goes to the first contact that holds or (earlier in the batch)
        claimed one of its terms; if another contact holds another of its
        terms the row contradicts the store and is refused, as the update
        would be. Rows that match nothing create a contact, which later rows
        of the batch join.
        """
        groups: dict[str, _Group] = {}
        claims: dict[IndexTerm, str] = {}

        def owner(term: IndexTerm, draft: ContactDraft) -> str | None:
            if term in claims:
                return claims[term]
            for contact_id in holders.get(term, ()):
                contact = known.get(contact_id)
                if contact is None:
                    continue
                if term.kind is not TermKind.NAME or _name_only(contact, draft):
                    return contact_id
            return None

        for row in rows:
            owners = [(t, o) for t in row.terms if (o := owner(t, row.draft)) is not None]
            if owners:
                target = owners[0][1]
                taken = dict.fromkeys(_term_column(t, row) for t, o in owners if o != target)
                if taken:
                    self.error(row.line, _clash(list(taken), _term_column(owners[0][0], row)))
                    continue
                group = groups.setdefault(target, _Group(contact=known.get(target)))
                group.rows.append(row)
            else:
                target = f"new:{row.line}"
                groups[target] = _Group(creator=row)
            for term in row.terms:
                claims.setdefault(term, target)
        return list(groups.values())

    async def _create(self, groups: list[_Group]) -> None:
        creators = [g.creator for g in groups if g.creator is not None]
        if not creators:
            return
        results = await self.store.create_many([r.draft for r in creators], self.now)
        joined: list[tuple[str, _Group]] = []
        for group, creator, result in zip(groups, creators, results, strict=True):
            if result.created:
                self.report.created += 1
            else:
                # Created meanwhile by someone else: this row updates it.
                group.rows.insert(0, creator)
            if group.rows:
                joined.append((result.contact_id, group))
        ids = sorted({contact_id for contact_id, _ in joined})
        found = {c.id: c for c in await self.store.get_many(ids)}
        for contact_id, group in joined:
            group.contact = found.get(contact_id)
            if group.contact is None:
                for row in group.rows:
                    self.error(row.line, "the contact was deleted during the import")

    async def _update(self, group: _Group, row: ValidRow) -> None:
        before = group.contact
        assert before is not None
        details = _details_change(before, row.draft)
        state = _state_change(before, row.row)
        if not (details or state):
            self.report.unchanged += 1
            return
        try:
            after = before
            if details:
                after = await self.store.update_details(
                    after.id,
                    first_name=details.first_name,
                    last_name=details.last_name,
                    email=details.email,
                    phone=details.phone,
                    identities=details.identities,
                )
            if state:
                after = await self.store.set_state(
                    after.id,
                    status=state.status,
                    assignee=state.assignee,
                    last_inbound_at=state.last_inbound_at,
                    now=self.now,
                )
        except IdentityTaken as taken:
            column = _term_column(str(taken), row)
            self.error(row.line, f"{column}: already belongs to another contact")
            return
        except (ContactNotFound, ConcurrentUpdate):
            self.error(row.line, "the contact changed during the import; run the import again")
            return
        group.contact = after
        if after.version != before.version:
            self.report.updated += 1
        else:
            self.report.unchanged += 1


class DryRunImporter(Importer):
    """Matches against the store like an import, writes nothing, counts what would change."""

    async def _create(self, groups: list[_Group]) -> None:
        for group in groups:
            assert group.creator is not None
            group.contact = _as_contact(f"new:{group.creator.line}", group.creator.draft)
            self.report.created += 1

    async def _update(self, group: _Group, row: ValidRow) -> None:
        before = group.contact
        assert before is not None
        details = _details_change(before, row.draft)
        state = _state_change(before, row.row)
        if details or state:
            group.contact = _simulate(before, details, state)
            self.report.updated += 1
        else:
            self.report.unchanged += 1


# --- progress --------------------------------------------------------------------------
