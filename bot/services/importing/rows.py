"""One row of the import file: its columns, its validation and what is derived from it.

Reasons name the column, never the value (SPEC "The import file").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

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
from bot.domain.models import ConversationStatus
from bot.store.contacts import (
    ContactDraft,
)

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


# --- the report ------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """A row that was not imported: its first line in the file (header = 1) and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class FileProblem:
    """The file cannot be read as rows at all (no header, unknown columns): nothing is imported."""

    line: int
    reason: str


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
                    f"{INBOUND_PREFIX}{c.value}: the row's {identity_column(c)} is empty"
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


def identity_column(channel: Channel) -> str:
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


def is_present(value: object) -> bool:
    """Empty cells (and JSON nulls) mean "absent"."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def column_key(name: str) -> str:
    """A header cell or JSON key as a column name: `First Name` → `first_name`."""
    return _SEPARATORS.sub("_", name.strip().lower())


def shown_column(name: str, position: int) -> str:
    return name if _COLUMN_NAME.fullmatch(name) else f"column {position}"


# --- reading the file ----------------------------------------------------------------
