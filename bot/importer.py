"""`followup import FILE`: load contacts from CSV or JSON Lines (SPEC "The import file").

Each row is validated on its own (`ImportRow`); bad rows are reported by file
line and the rest are imported. A row joins the contact that already holds
one of its channel identities, its phone or its e-mail (the rule of SPEC
"Contacts, conversations and threads"), else it creates one, so running the
same file twice changes nothing. Output never repeats a name, phone number or
e-mail address: reasons name the column, not the value.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import json
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TextIO

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.contacts import (
    IndexTerm,
    TermKind,
    fold_text,
    full_name,
    identity_term,
    normalise_email,
    normalise_phone,
    reversed_digits,
)
from bot.domain.models import Contact, Conversation, ConversationStatus
from bot.runtime import keys_for
from bot.store.connection import RedisClient
from bot.store.contacts import (
    ConcurrentUpdate,
    ContactDraft,
    ContactNotFound,
    ContactStore,
    IdentityTaken,
)
from bot.store.keys import Keys
from bot.store.scripts import load_all

#: Channels whose identity is a column of its own (SMS and e-mail come from
#: the contact's `phone` and `email`).
IDENTITY_COLUMNS: tuple[Channel, ...] = (
    Channel.WHATSAPP,
    Channel.MESSENGER,
    Channel.INSTAGRAM,
    Channel.TELEGRAM,
    Channel.LINE,
    Channel.VIBER,
    Channel.WECHAT,
    Channel.WEBCHAT,
)
INBOUND_PREFIX = "last_inbound_at."
#: Every column (CSV) or field (JSON Lines) the import understands.
COLUMNS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "phone",
    *(c.value for c in IDENTITY_COLUMNS),
    "assignee",
    "status",
    *(INBOUND_PREFIX + c.value for c in Channel),
)

#: Rows looked up and written together (one lookup pipeline, one create pipeline).
BATCH_ROWS = 500
#: Contacts updated concurrently within a batch (each update is a few round trips).
UPDATE_CONCURRENCY = 16
#: Bad rows listed after the summary; the report keeps them all.
LISTED_ERRORS = 1000
#: A customer message time this far ahead of "now" is a mistake (a wrong offset).
FUTURE_TOLERANCE = timedelta(minutes=5)

MAX_NAME = 200
MAX_IDENTITY = 256
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,20}")
# Column names echoed in errors: only ones that look like names, so a header-less
# file (whose first line is a customer) is never printed back.
_COLUMN_NAME = re.compile(r"[a-z_][a-z0-9_.\-]{0,40}")
_SPACES = re.compile(r"\s+")
_SEPARATORS = re.compile(r"[\s\-]+")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc
_JSONL_SUFFIXES = {".jsonl", ".ndjson"}


# --- the report ------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """A row that was not imported: its first line in the file (header = 1) and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class _FileProblem:
    """The file cannot be read as rows at all (no header, unknown columns): nothing is imported."""

    line: int
    reason: str


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do), row by row."""

    dry_run: bool = False
    rows: int = 0  # data rows read (blank lines not counted)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged

    def summary(self) -> str:
        counts = (
            f"{self.imported}: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {len(self.errors)} bad rows"
        )
        if self.dry_run:
            return f"dry run, nothing written: would import {counts}"
        return f"imported {counts}"


# --- one row -----------------------------------------------------------------------


@dataclass(frozen=True)
class RowContext:
    """What validating a row needs besides the row: passed as pydantic context."""

    default_region: str | None
    now: datetime


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("import_row", message)


def _context(info: ValidationInfo) -> RowContext | None:
    return info.context if isinstance(info.context, RowContext) else None


def _region(info: ValidationInfo) -> str | None:
    context = _context(info)
    return context.default_region if context else None


def _text(value: object) -> str:
    """A cell as text: JSON numbers are accepted where a number is natural (ids, phones)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _fail("must be text")
    return str(value).strip()


def _clean(value: str, limit: int) -> str:
    if _CONTROL.search(value):
        raise _fail("contains control characters")
    if len(value) > limit:
        raise _fail(f"longer than {limit} characters")
    return value


def _inbound_time(value: object, info: ValidationInfo) -> datetime:
    """ISO 8601 with an offset, in UTC, whole seconds (what the store keeps)."""
    if not isinstance(value, str):
        raise _fail("must be an ISO 8601 time such as 2026-11-24T12:00:00+04:00")
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _fail("not an ISO 8601 time (e.g. 2026-11-24T12:00:00+04:00)") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise _fail("needs a UTC offset (e.g. 2026-11-24T12:00:00+04:00 or ...Z)")
    at = at.astimezone(UTC).replace(microsecond=0)
    context = _context(info)
    if context is not None and at > context.now + FUTURE_TOLERANCE:
        raise _fail("is in the future (check the UTC offset)")
    return at


InboundTime = Annotated[datetime, PlainValidator(_inbound_time)]


class ImportRow(BaseModel):
    """One row of the import file, validated and normalised.

    Phones are E.164 (`+971501234567`), read in `RowContext.default_region`
    when typed without a country code; `whatsapp` is the same number without
    the `+`, as WhatsApp webhooks carry it (`wa_id`); e-mail is lower-cased.
    Absent values are None (status: None means "closed" for a new contact
    and "keep" for an existing one).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_name: str = ""
    last_name: str = ""
    email: str | None = None
    phone: str | None = None
    whatsapp: str | None = None
    messenger: str | None = None
    instagram: str | None = None
    telegram: str | None = None
    line: str | None = None
    viber: str | None = None
    wechat: str | None = None
    webchat: str | None = None
    assignee: str | None = None
    status: ConversationStatus | None = None
    last_inbound_at: dict[Channel, InboundTime] = {}

    @field_validator("first_name", "last_name", mode="before")
    @classmethod
    def _name(cls, value: object) -> str:
        text = unicodedata.normalize("NFC", _SPACES.sub(" ", _text(value)))
        return _clean(text, MAX_NAME)

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: object) -> str:
        email = normalise_email(_clean(_text(value), MAX_IDENTITY))
        if email is None:
            raise _fail("not a valid e-mail address")
        return email

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: object, info: ValidationInfo) -> str:
        phone = normalise_phone(_text(value), _region(info))
        if phone is None:
            raise _fail("not a valid phone number")
        return phone

    @field_validator("whatsapp", mode="before")
    @classmethod
    def _whatsapp(cls, value: object, info: ValidationInfo) -> str:
        phone = normalise_phone(_text(value), _region(info))
        if phone is None:
            raise _fail("not a valid phone number")
        return phone.removeprefix("+")

    @field_validator(
        "messenger", "instagram", "telegram", "line", "viber", "wechat", "webchat", mode="before"
    )
    @classmethod
    def _identity(cls, value: object) -> str:
        return _clean(_text(value), MAX_IDENTITY)

    @field_validator("assignee", mode="before")
    @classmethod
    def _assignee(cls, value: object) -> str:
        user = _text(value).upper()
        if not _SLACK_USER.fullmatch(user):
            raise _fail("not a Slack user id (like U0123ABCD)")
        return user

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> ConversationStatus:
        try:
            return ConversationStatus(_text(value).lower())
        except ValueError:
            raise _fail("must be open or closed") from None

    @model_validator(mode="after")
    def _identifiable(self) -> ImportRow:
        identities = self.identities()
        if not (identities or self.first_name or self.last_name):
            raise _fail("nothing to identify the contact: give a name, phone, email or channel id")
        missing = [c for c in self.last_inbound_at if c not in identities]
        if missing:
            raise _fail(
                "; ".join(
                    f"{INBOUND_PREFIX}{c.value}: the row's {_identity_column(c)} is empty"
                    for c in sorted(missing)
                )
            )
        return self

    def identities(self) -> dict[Channel, str]:
        """Channel identities: the identity columns, plus SMS = phone and E-mail = email."""
        found = {c: v for c in IDENTITY_COLUMNS if (v := getattr(self, c.value)) is not None}
        if self.phone:
            found[Channel.SMS] = self.phone
        if self.email:
            found[Channel.EMAIL] = self.email
        return found

    def draft(self) -> ContactDraft:
        return ContactDraft(
            first_name=self.first_name,
            last_name=self.last_name,
            email=self.email,
            phone=self.phone,
            identities=self.identities(),
            status=self.status or ConversationStatus.CLOSED,
            assignee=self.assignee,
            last_inbound_at=dict(self.last_inbound_at),
        )


def _identity_column(channel: Channel) -> str:
    """The column that gives a channel its identity (SMS: phone, E-mail: email)."""
    if channel is Channel.SMS:
        return "phone"
    return channel.value


def _reasons(error: ValidationError) -> str:
    """One reason per problem, each naming its column, never echoing the value."""
    parts = []
    for problem in error.errors(include_input=False, include_url=False):
        loc = ".".join(str(part) for part in problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {message}" if loc else message)
    return "; ".join(dict.fromkeys(parts))


@dataclass(frozen=True)
class ValidRow:
    """A validated row with what the import derives from it."""

    line: int
    row: ImportRow
    draft: ContactDraft
    terms: tuple[IndexTerm, ...]  # what it is looked up by, in matching priority


def _lookup_terms(draft: ContactDraft) -> tuple[IndexTerm, ...]:
    """The terms a row matches existing contacts by, in `find_match`'s order.

    Identities (by channel), then phone, then e-mail: the terms a new contact
    must hold alone. A row with a name only matches by its exact name.
    """
    terms = [
        IndexTerm(TermKind.IDENTITY, identity_term(channel, identity))
        for channel, identity in sorted(draft.identities.items())
    ]
    if draft.phone:
        terms.append(IndexTerm(TermKind.PHONE, reversed_digits(draft.phone)))
    if draft.email:
        terms.append(IndexTerm(TermKind.EMAIL, draft.email))
    if not terms:
        terms.append(
            IndexTerm(TermKind.NAME, fold_text(full_name(draft.first_name, draft.last_name)))
        )
    return tuple(terms)


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
            return _identity_column(Channel(candidate.term.partition(":")[0]))
    return "a channel id"


def _clash(columns: list[str], matched_by: str) -> str:
    """Why a row whose values belong to two different contacts is refused."""
    return "; ".join(
        f"{column}: belongs to a different contact than the {matched_by}"
        if column != matched_by
        else f"{column}: already belongs to another contact"
        for column in columns
    )


def validate_row(
    line: int, cells: Mapping[str, object], context: RowContext
) -> ValidRow | RowError:
    """Validate one row given as column → value (empty values already dropped)."""
    try:
        row = ImportRow.model_validate(_nest_inbound(cells), context=context)
    except ValidationError as error:
        return RowError(line, _reasons(error))
    draft = row.draft()
    return ValidRow(line, row, draft, _lookup_terms(draft))


def _nest_inbound(cells: Mapping[str, object]) -> dict[str, object]:
    fields: dict[str, object] = {}
    inbound: dict[str, object] = {}
    for name, value in cells.items():
        if name.startswith(INBOUND_PREFIX):
            inbound[name.removeprefix(INBOUND_PREFIX)] = value
        else:
            fields[name] = value
    if inbound:
        fields["last_inbound_at"] = inbound
    return fields


def _present(value: object) -> bool:
    """Empty cells (and JSON nulls) mean "absent"."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def column_key(name: str) -> str:
    """A header cell or JSON key as a column name: `First Name` → `first_name`."""
    return _SEPARATORS.sub("_", name.strip().lower())


def _shown(name: str, position: int) -> str:
    return name if _COLUMN_NAME.fullmatch(name) else f"column {position}"


# --- reading the file ----------------------------------------------------------------

_Parsed = ValidRow | RowError | _FileProblem


def _decoded_lines(raw: BinaryIO, undecodable: set[int]) -> Iterator[str]:
    """The file's lines as text, endings kept; lines that are not UTF-8 are noted."""
    for number, data in enumerate(raw, start=1):
        if number == 1:
            data = data.removeprefix(codecs.BOM_UTF8)
        try:
            yield data.decode("utf-8")
        except UnicodeDecodeError:
            undecodable.add(number)
            yield data.decode("utf-8", "replace")


NOT_UTF8 = "the line is not UTF-8 text (save the file as UTF-8)"


def _is_jsonl(path: Path, raw: BinaryIO) -> bool:
    suffix = path.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return True
    if suffix == ".csv":
        return False
    head = raw.read(4096).removeprefix(codecs.BOM_UTF8).lstrip()
    raw.seek(0)
    return head.startswith(b"{")


def _read_jsonl(raw: BinaryIO, context: RowContext) -> Iterator[_Parsed]:
    undecodable: set[int] = set()
    for number, text in enumerate(_decoded_lines(raw, undecodable), start=1):
        if not text.strip():
            continue
        if number in undecodable:
            yield RowError(number, NOT_UTF8)
            continue
        try:
            value = json.loads(text.strip())
        except json.JSONDecodeError as error:
            yield RowError(number, f"not valid JSON ({error.msg} at column {error.colno})")
            continue
        if not isinstance(value, dict):
            yield RowError(number, "not a JSON object")
            continue
        yield _jsonl_row(number, value, context)


def _jsonl_row(number: int, value: dict[str, Any], context: RowContext) -> _Parsed:
    cells: dict[str, object] = {}
    unknown: list[str] = []
    for position, (key, item) in enumerate(value.items(), start=1):
        name = column_key(key)
        # Also accept `"last_inbound_at": {"whatsapp": ...}`, JSON's natural shape.
        if name == "last_inbound_at" and isinstance(item, dict):
            nested = {INBOUND_PREFIX + column_key(k): v for k, v in item.items()}
            unknown += [_shown(n, position) for n in nested if n not in COLUMNS]
            cells.update({n: v for n, v in nested.items() if _present(v)})
        elif name not in COLUMNS:
            unknown.append(_shown(name, position))
        elif _present(item):
            cells[name] = item
    if unknown:
        return RowError(number, f"unknown fields: {', '.join(unknown)}")
    return validate_row(number, cells, context)


_DELIMITERS = (",", ";", "\t")


def _header_delimiter(line: str) -> str:
    """`,` unless `;` or tab splits the header into more known columns (spreadsheet exports)."""

    def known(delimiter: str) -> int:
        cells = next(csv.reader([line], delimiter=delimiter), [])
        return sum(column_key(cell) in COLUMNS for cell in cells)

    return max(_DELIMITERS, key=known)


def _header_problem(header: list[str]) -> str | None:
    named = [(i, name) for i, name in enumerate(header, start=1) if name]
    if not any(name in COLUMNS for _, name in named):
        return (
            "the first line must be a header naming the columns "
            "(e.g. first_name,last_name,email,phone)"
        )
    unknown = [_shown(name, i) for i, name in named if name not in COLUMNS]
    if unknown:
        return f"unknown columns: {', '.join(unknown)} (known: {', '.join(COLUMNS)})"
    names = [name for _, name in named]
    twice = [name for name in dict.fromkeys(names) if names.count(name) > 1]
    if twice:
        return f"columns named twice: {', '.join(twice)}"
    return None


def _read_csv(raw: BinaryIO, context: RowContext) -> Iterator[_Parsed]:
    undecodable: set[int] = set()
    lines = _decoded_lines(raw, undecodable)
    skipped: list[str] = []
    for text in lines:
        skipped.append(text)
        if text.strip():
            break
    if not skipped or not skipped[-1].strip():
        yield _FileProblem(1, "the file is empty: the first line must name the columns")
        return
    header_line = len(skipped)
    reader = csv.reader(chain(skipped, lines), delimiter=_header_delimiter(skipped[-1]))
    header: list[str] = []
    try:
        while not header:  # blank lines before the header read as []
            header = [column_key(cell) for cell in next(reader)]
    except (csv.Error, StopIteration):
        yield _FileProblem(header_line, "the header row is not valid CSV")
        return
    if header_line in undecodable:
        yield _FileProblem(header_line, NOT_UTF8)
        return
    problem = _header_problem(header)
    if problem is not None:
        # Every row would be read wrongly: nothing is imported.
        yield _FileProblem(header_line, problem)
        return
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield RowError(start, f"not valid CSV: {error}")
            if reader.line_num < start:
                return
            continue
        if not any(cell.strip() for cell in cells):
            continue  # blank line or a row of empty cells (spreadsheet padding)
        if any(n in undecodable for n in range(start, reader.line_num + 1)):
            yield RowError(start, NOT_UTF8)
        elif len(cells) > len(header):
            yield RowError(
                start, f"has {len(cells)} cells but the header names {len(header)} columns"
            )
        else:
            # Fewer cells than columns: the missing ones are empty.
            row = {name: value for name, value in zip(header, cells, strict=False) if name}
            stray = [
                i
                for i, (name, value) in enumerate(zip(header, cells, strict=False), start=1)
                if not name and value.strip()
            ]
            if stray:
                yield RowError(start, f"column {stray[0]} has a value but no header")
            else:
                yield validate_row(start, {k: v for k, v in row.items() if _present(v)}, context)


def read_rows(path: Path, raw: BinaryIO, context: RowContext) -> Iterator[_Parsed]:
    """Rows of a CSV (header row) or JSON Lines file, by extension, else by first character."""
    if _is_jsonl(path, raw):
        return _read_jsonl(raw, context)
    return _read_csv(raw, context)


def _batches(rows: Iterable[_Parsed], size: int) -> Iterator[list[_Parsed]]:
    batch: list[_Parsed] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- matching and writing ----------------------------------------------------------


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


class _Importer:
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


class _DryRunImporter(_Importer):
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


class _Progress:
    """A line every `interval` seconds or `every_rows` rows, whichever comes first."""

    def __init__(
        self,
        out: TextIO,
        interval: float,
        every_rows: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.interval = interval
        self.every_rows = every_rows
        self.clock = clock
        self.started = self.last_time = clock()
        self.last_rows = 0

    def update(self, report: ImportReport) -> None:
        now = self.clock()
        done = report.rows
        if done - self.last_rows < self.every_rows and now - self.last_time < self.interval:
            return
        rate = done / max(now - self.started, 1e-9)
        print(
            f"progress: {done} rows done ({len(report.errors)} bad), {rate:.0f} rows/s",
            file=self.out,
            flush=True,
        )
        self.last_time, self.last_rows = now, done


def print_report(report: ImportReport, out: TextIO) -> None:
    """The summary line, then each bad row (line and reason; never the row's values)."""
    print(report.summary(), file=out)
    for error in report.errors[:LISTED_ERRORS]:
        print(f"line {error.line}: {error.reason}", file=out)
    if len(report.errors) > LISTED_ERRORS:
        print(f"... and {len(report.errors) - LISTED_ERRORS} more bad rows", file=out)
    out.flush()


# --- entry point -------------------------------------------------------------------------


async def run_import(
    settings: Settings,
    redis: RedisClient,
    path: Path,
    *,
    dry_run: bool = False,
    out: TextIO | None = None,
    now: datetime | None = None,
    keys: Keys | None = None,
    batch_rows: int = BATCH_ROWS,
    progress_interval: float = 1.0,
    progress_rows: int = 10_000,
) -> ImportReport:
    """Import contacts from `path` (CSV or JSON Lines); print progress and a summary to `out`.

    Bad rows are skipped and reported; the others are imported. `dry_run`
    reads the store but writes nothing (repeats of a customer are recognised
    within a batch of `batch_rows` rows). `keys` defaults to the deployment's
    key layout.
    """
    out = out if out is not None else sys.stderr
    now = now if now is not None else datetime.now(UTC)
    store = ContactStore(redis, keys if keys is not None else keys_for(settings))
    report = ImportReport(dry_run=dry_run)
    importer = (_DryRunImporter if dry_run else _Importer)(store, report, now)
    context = RowContext(default_region=settings.default_phone_region, now=now)
    progress = _Progress(out, progress_interval, progress_rows)
    try:
        raw = path.open("rb")
    except OSError as error:
        report.errors.append(RowError(0, f"cannot read the file: {error.strerror}"))
        print_report(report, out)
        return report
    with raw:
        if not dry_run:
            await load_all(redis)
        for batch in _batches(read_rows(path, raw, context), batch_rows):
            valid = []
            for parsed in batch:
                if isinstance(parsed, _FileProblem):
                    report.errors.append(RowError(parsed.line, parsed.reason))
                    continue
                report.rows += 1
                if isinstance(parsed, RowError):
                    report.errors.append(parsed)
                else:
                    valid.append(parsed)
            if valid:
                await importer.batch(valid)
            progress.update(report)
    report.errors.sort(key=lambda e: e.line)
    print_report(report, out)
    return report
