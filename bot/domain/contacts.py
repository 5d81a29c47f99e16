"""Contact normalisation and search-query rules: pure, no I/O.

One place decides how a phone number, an e-mail address or a name becomes the
terms the search indexes hold, and how a typed query becomes the terms to look
up (SPEC "Finding a contact").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import phonenumbers

from bot.domain.channels import Channel

#: A partial phone number must have at least this many trailing digits.
MIN_PHONE_DIGITS = 6
#: Up to this many digits a number without country code is taken as partial.
PARTIAL_PHONE_MAX = 8
#: A name query must have at least this many characters (after folding).
MIN_TEXT_QUERY = 2
#: An e-mail query (one with `@`) must have at least this many characters.
MIN_EMAIL_QUERY = 3

# Arabic letter variants folded to one form (SPEC: أ إ آ → ا, ة → ه, ى → ي).
_ARABIC_FOLD = str.maketrans(
    {
        "\u0623": "\u0627",  # أ
        "\u0625": "\u0627",  # إ
        "\u0622": "\u0627",  # آ
        "\u0671": "\u0627",  # ٱ (wasla)
        "\u0629": "\u0647",  # ة → ه
        "\u0649": "\u064a",  # ى → ي
        "\u0640": None,  # tatweel
    }
)
# Arabic diacritics (harakat, tanween, shadda, sukun, dagger alif, Quranic marks).
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_SPACES = re.compile(r"\s+")
_PHONE_CHARS = re.compile(r"^[\d\s+().\-/]+$")
_DIGITS = re.compile(r"\D")


def fold_text(value: str) -> str:
    """Case-fold, drop accents and Arabic diacritics, fold Arabic variants."""
    text = unicodedata.normalize("NFKC", value).casefold()
    text = _ARABIC_MARKS.sub("", text.translate(_ARABIC_FOLD))
    # NFKD splits accented Latin letters into base + combining mark; drop the marks
    # (José → jose) and compose back what remains.
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    text = unicodedata.normalize("NFC", stripped)
    # Arabic folding again: NFKD may expose variants (e.g. presentation forms).
    text = _ARABIC_MARKS.sub("", text.translate(_ARABIC_FOLD))
    return _SPACES.sub(" ", text).strip()


def full_name(first_name: str, last_name: str) -> str:
    """The display name: first and last joined by a space, either may be empty."""
    return " ".join(part for part in (first_name.strip(), last_name.strip()) if part)


def normalise_email(value: str) -> str | None:
    """A lower-cased address, or None when it is not an e-mail address."""
    email = value.strip().lower()
    return email if _looks_like_email(email) else None


def _looks_like_email(text: str) -> bool:
    """`local@domain.tld`: one "@", no white space, a dot inside the domain.

    String tests, not a pattern: `^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$` backtracked over
    every dot (20,000 dots and a space took 7 s).
    """
    local, at, domain = text.partition("@")
    if not (at and local and "." in domain[1:-1]) or "@" in domain:
        return False
    return not any(ch.isspace() for ch in text)


def normalise_phone(value: str, default_region: str | None) -> str | None:
    """E.164 (`+971501234567`) when the number is valid, else None.

    `00` international prefixes are read as `+`; a number without a country
    code is read in `default_region` (None: it cannot be normalised).
    """
    raw = value.strip()
    if not raw or not _PHONE_CHARS.match(raw):
        return None
    digits = _DIGITS.sub("", raw)
    if raw.startswith("+"):
        candidate = "+" + digits
    elif digits.startswith("00"):
        candidate = "+" + digits[2:]
    else:
        candidate = None
    try:
        if candidate is not None:
            number = phonenumbers.parse(candidate, None)
        elif default_region:
            number = phonenumbers.parse(digits, default_region)
        else:
            # No country code and no region: a number that is valid once a
            # "+" is put in front is taken as international (971501234567).
            number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _has_country_code(raw: str, default_region: str | None) -> bool:
    text = raw.strip()
    return text.startswith(("+", "00")) or not default_region


def _national_number(e164: str) -> str:
    number = phonenumbers.parse(e164, None)
    return str(phonenumbers.national_significant_number(number))


def reversed_digits(e164_or_digits: str) -> str:
    """Digits in reverse order: a prefix of this is a suffix of the number."""
    return _DIGITS.sub("", e164_or_digits)[::-1]


class TermKind(StrEnum):
    """The kinds of search term; the value is the index key's kind segment."""

    NAME = "n"
    EMAIL = "e"
    PHONE = "t"
    IDENTITY = "i"
    #: A channel username (Telegram `@name`, Instagram username): looked up
    #: whole, like an identity, but not unique (usernames change hands).
    HANDLE = "h"


#: Term kinds only ever matched whole (the index is asked for `term\0…`).
EXACT_KINDS = frozenset({TermKind.IDENTITY, TermKind.HANDLE})
#: Channels whose customers have a username we store (lower-cased, no `@`).
HANDLE_CHANNELS = (Channel.TELEGRAM, Channel.INSTAGRAM)
#: Channels whose identity is a number (chat id, PSID, IGSID): a digits query
#: looks them up too. (WhatsApp's and SMS's are the phone, found as a phone.)
NUMERIC_ID_CHANNELS = (Channel.TELEGRAM, Channel.MESSENGER, Channel.INSTAGRAM)
#: Channels whose identity is an opaque token (WeChat openid, LINE user id,
#: Viber id, web chat visitor id): a one-word query looks them up whole, and
#: so does a number (a visitor id may be one).
TOKEN_ID_CHANNELS = (Channel.WECHAT, Channel.LINE, Channel.VIBER, Channel.WEBCHAT)
# Telegram usernames are 5-32 of [A-Za-z0-9_]; Instagram's up to 30 of
# [A-Za-z0-9._]: one pattern admits both (the lookup is exact anyway).
_HANDLE = re.compile(r"^[A-Za-z0-9_.]{1,32}$")
_TOKEN = re.compile(r"^\S{3,128}$")


@dataclass(frozen=True)
class IndexTerm:
    """One entry a contact has in the search index."""

    kind: TermKind
    term: str


@dataclass(frozen=True)
class ContactTerms:
    """What a contact is findable by: its index terms and sort key."""

    name_key: str
    terms: tuple[IndexTerm, ...]


def identity_term(channel: Channel, identity: str) -> str:
    """The index term of a channel identity (`whatsapp:+9715...`)."""
    return f"{channel.value}:{identity}"


def normalise_handle(value: str) -> str | None:
    """A username as stored and looked up: no `@`, lower-cased; None if not one.

    Telegram and Instagram usernames are case-insensitive.
    """
    handle = value.strip().removeprefix("@").lower()
    return handle if _HANDLE.match(handle) else None


def contact_terms(
    *,
    first_name: str,
    last_name: str,
    email: str | None,
    phone: str | None,
    identities: dict[Channel, str],
    handles: dict[Channel, str] | None = None,
) -> ContactTerms:
    """The search terms of a contact: full name, last name, e-mail, phone,
    identities and channel usernames (`handles`).

    The full name covers first-name prefixes; the last name is indexed on its
    own so that `ahmed` finds Sara Ahmed. Phones are indexed as reversed
    digits, so a prefix search finds both full numbers and trailing digits.
    """
    terms: list[IndexTerm] = []
    folded_full = fold_text(full_name(first_name, last_name))
    folded_last = fold_text(last_name)
    if folded_full:
        terms.append(IndexTerm(TermKind.NAME, folded_full))
    if folded_last and folded_last != folded_full:
        terms.append(IndexTerm(TermKind.NAME, folded_last))
    if email:
        terms.append(IndexTerm(TermKind.EMAIL, email))
    if phone:
        terms.append(IndexTerm(TermKind.PHONE, reversed_digits(phone)))
    for channel, identity in sorted(identities.items()):
        terms.append(IndexTerm(TermKind.IDENTITY, identity_term(channel, identity)))
    for channel, handle in sorted((handles or {}).items()):
        terms.append(IndexTerm(TermKind.HANDLE, identity_term(channel, handle)))
    return ContactTerms(name_key=folded_full, terms=tuple(dict.fromkeys(terms)))


class QueryError(ValueError):
    """A query that cannot be searched; `key` is the catalogue key."""

    def __init__(self, key: str, **params: str | int) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class SearchQuery:
    """A typed query turned into index prefixes (one per kind it may match).

    `field_type` is `name`, `email`, `phone` or `handle` (`@username`);
    `prefixes` holds the (kind, prefix) pairs to look up. Identity and
    handle terms (`EXACT_KINDS`) are matched whole, never as prefixes.
    """

    field_type: str
    prefixes: tuple[tuple[TermKind, str], ...]


@lru_cache(maxsize=1024)  # pure: `/find-contact` checks its query before the ack, then runs it
def parse_query(query: str, default_region: str | None) -> SearchQuery:
    """Decide the field type of a query and the prefixes to look up.

    * with `@`: an e-mail (full address or its beginning);
    * phone characters only, with at least 6 digits: a phone number, in any
      notation (E.164, `00`, national in `default_region`) or trailing digits;
    * `@username`: a Telegram or Instagram username, exactly;
    * otherwise a name prefix (folded), which also matches an e-mail whose
      part before `@` is exactly the query.

    Any one-word query also matches a channel identity exactly (a chat id,
    PSID or IGSID when it is a number; a WeChat openid, LINE user id, Viber
    id or web chat visitor id as typed) and a username (with or without `@`).
    """
    text = query.strip()
    if not text:
        raise QueryError("search.empty_query")
    if text.startswith("@") and text.count("@") == 1:
        handle = normalise_handle(text)
        if handle is None:
            raise QueryError("search.query_too_short", min=MIN_TEXT_QUERY)
        return SearchQuery("handle", _handle_prefixes(handle))
    if "@" in text:
        email = text.lower()
        if len(email) < MIN_EMAIL_QUERY:
            raise QueryError("search.query_too_short", min=MIN_EMAIL_QUERY)
        return SearchQuery("email", ((TermKind.EMAIL, email),))
    if _PHONE_CHARS.match(text) and any(ch.isdigit() for ch in text):
        digits = _DIGITS.sub("", text)
        if len(digits) < MIN_PHONE_DIGITS:
            raise QueryError("search.phone_too_short", min=MIN_PHONE_DIGITS)
        e164 = normalise_phone(text, default_region)
        if e164 is not None and _has_country_code(text, default_region):
            match = reversed_digits(e164)
        elif e164 is not None:
            # A national number: match on its national significant number, so a
            # partial number that happens to be valid still matches as a suffix.
            match = _national_number(e164)[::-1]
        else:
            # Unknown country: match by trailing digits. A long number loses its
            # trunk or `00` prefix (0501234567 → ...501234567); a short one is
            # a partial number whose zeros are digits like any other (001234).
            match = (digits.lstrip("0") if len(digits) > PARTIAL_PHONE_MAX else digits)[::-1]
            if len(match) < MIN_PHONE_DIGITS:
                raise QueryError("search.phone_too_short", min=MIN_PHONE_DIGITS)
        exact = text.lstrip("+") if text.lstrip("+-").isdigit() else None
        ids = _identity_prefixes(exact, NUMERIC_ID_CHANNELS + TOKEN_ID_CHANNELS) if exact else ()
        return SearchQuery("phone", ((TermKind.PHONE, match), *ids))
    folded = fold_text(text)
    if len(folded) < MIN_TEXT_QUERY:
        raise QueryError("search.query_too_short", min=MIN_TEXT_QUERY)
    prefixes: list[tuple[TermKind, str]] = [(TermKind.NAME, folded)]
    if " " not in folded:
        prefixes.append((TermKind.EMAIL, text.lower() + "@"))
    if _TOKEN.match(text):
        handle = normalise_handle(text)
        if handle is not None:
            prefixes += _handle_prefixes(handle)
        prefixes += _identity_prefixes(text, TOKEN_ID_CHANNELS)
    return SearchQuery("name", tuple(dict.fromkeys(prefixes)))


def _handle_prefixes(handle: str) -> tuple[tuple[TermKind, str], ...]:
    return tuple((TermKind.HANDLE, identity_term(ch, handle)) for ch in HANDLE_CHANNELS)


def _identity_prefixes(
    value: str, channels: tuple[Channel, ...]
) -> tuple[tuple[TermKind, str], ...]:
    return tuple((TermKind.IDENTITY, identity_term(ch, value)) for ch in channels)
