"""`followup import`: CSV and JSON Lines contacts, on a real Redis (SPEC "The import file")."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.models import Contact, ConversationStatus
from bot.services.importing import ImportReport, run_import
from bot.services.importing.apply import BATCH_ROWS
from bot.services.importing.rows import RowContext, RowError, validate_row
from bot.store.contacts import ContactDraft, ContactStore
from bot.store.search import SearchFilters
from tests.conftest import NOW, StoreEnv

DATA = Path(__file__).parents[2] / "data"
ROOT = Path(__file__).parents[3]

SARA_WHATSAPP = "971501234567"
SARA_PHONE = "+971501234567"


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None, default_phone_region="AE", partitions=8)


async def run(
    env: StoreEnv,
    settings: Settings,
    path: Path,
    *,
    dry_run: bool = False,
    batch_rows: int = BATCH_ROWS,
    progress_interval: float = 1.0,
    progress_rows: int = 10_000,
) -> tuple[ImportReport, str]:
    """Import into the test's private key prefix; return the report and what was printed."""
    out = io.StringIO()
    report = await run_import(
        settings,
        env.redis,
        path,
        dry_run=dry_run,
        out=out,
        now=NOW,
        keys=env.keys,
        batch_rows=batch_rows,
        progress_interval=progress_interval,
        progress_rows=progress_rows,
    )
    return report, out.getvalue()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def counts(report: ImportReport) -> tuple[int, int, int, int]:
    return report.created, report.updated, report.unchanged, len(report.errors)


def one(contacts: list[Contact]) -> Contact:
    assert len(contacts) == 1, [c.id for c in contacts]
    return contacts[0]


async def the_four(env: StoreEnv) -> dict[str, Contact]:
    """The contacts of `contacts.csv` / `contacts.jsonl`, read back by their identities."""
    sara = await env.contacts.find_by_identity(Channel.WHATSAPP, SARA_WHATSAPP)
    jose = await env.contacts.find_by_identity(Channel.TELEGRAM, "5550001")
    assert sara is not None and jose is not None
    return {
        "sara": sara,
        "ahmed": one(await env.contacts.find_by_phone("+201009876543")),
        "jose": jose,
        "zoe": one(await env.contacts.find_by_email("zoe@example.de")),
    }


async def keys_under(env: StoreEnv) -> list[str]:
    return [key async for key in env.redis.scan_iter(match=f"{env.keys.prefix}:*")]


# --- importing -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["contacts.csv", "contacts.jsonl"], ids=["csv", "jsonl"])
async def test_import_creates_contacts_and_reads_them_back(
    env: StoreEnv, settings: Settings, name: str
) -> None:
    report, output = await run(env, settings, DATA / name)

    assert counts(report) == (4, 0, 0, 0)
    assert report.rows == 4
    assert output.splitlines() == ["imported 4: 4 created, 0 updated, 0 unchanged, 0 bad rows"]
    people = await the_four(env)

    sara = people["sara"]
    assert (sara.first_name, sara.last_name) == ("Sara", "Ahmed")
    assert sara.phone == SARA_PHONE  # "050 123 4567" read in DEFAULT_PHONE_REGION=AE
    assert sara.email == "sara.ahmed@example.com"
    assert sara.identities == {
        Channel.WHATSAPP: SARA_WHATSAPP,  # E.164 digits without "+", as in `wa_id`
        Channel.SMS: SARA_PHONE,
        Channel.EMAIL: "sara.ahmed@example.com",
    }
    assert sara.conversation.status is ConversationStatus.OPEN
    assert sara.conversation.assignee == "U0123ABCD"
    assert sara.conversation.last_inbound_at == {
        Channel.WHATSAPP: datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 10:00+04:00
    }

    ahmed = people["ahmed"]
    assert ahmed.name == "أحمد إبراهيم"
    assert ahmed.identities == {Channel.WHATSAPP: "201009876543", Channel.SMS: "+201009876543"}
    assert ahmed.email is None
    assert ahmed.conversation.status is ConversationStatus.CLOSED  # the default
    assert ahmed.conversation.assignee is None

    jose = people["jose"]
    assert jose.name == "José Álvarez"
    assert jose.phone == "+34612345678"
    assert jose.identities[Channel.TELEGRAM] == "5550001"
    assert jose.conversation.last_inbound_at == {
        Channel.TELEGRAM: datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    }

    zoe = people["zoe"]
    assert zoe.name == "Zoë Müller"
    assert zoe.phone is None
    assert zoe.identities == {Channel.EMAIL: "zoe@example.de"}


async def test_imported_contacts_are_found_by_accent_and_arabic_folding(
    env: StoreEnv, settings: Settings
) -> None:
    await run(env, settings, DATA / "contacts.csv")
    any_status = SearchFilters(status=None)

    jose = await env.search.search("jose", any_status)
    ahmed = await env.search.search("احمد", any_status)  # أحمد typed without the hamza

    assert [c.name for c in jose.contacts] == ["José Álvarez"]
    assert [c.name for c in ahmed.contacts] == ["أحمد إبراهيم"]


async def test_csv_and_jsonl_of_the_same_contacts_agree(env: StoreEnv, settings: Settings) -> None:
    await run(env, settings, DATA / "contacts.csv")
    before = await the_four(env)

    report, _ = await run(env, settings, DATA / "contacts.jsonl")

    assert counts(report) == (0, 0, 4, 0)
    assert await the_four(env) == before


@pytest.mark.parametrize(
    ("source", "name"),
    [("contacts.jsonl", "export.txt"), ("contacts.csv", "export.dat")],
    ids=["json-lines", "csv"],
)
async def test_format_is_sniffed_when_the_extension_says_nothing(
    env: StoreEnv, settings: Settings, tmp_path: Path, source: str, name: str
) -> None:
    path = tmp_path / name
    shutil.copy(DATA / source, path)

    report, _ = await run(env, settings, path)

    assert counts(report) == (4, 0, 0, 0)


async def test_semicolon_csv_with_bom_and_crlf_from_a_spreadsheet(
    env: StoreEnv, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "\ufeffFirst Name;Last Name;Phone\r\nSara;Ahmed;050 123 4567\r\n;;\r\n".encode()
    )

    report, _ = await run(env, settings, path)

    assert counts(report) == (1, 0, 0, 0)
    sara = one(await env.contacts.find_by_phone(SARA_PHONE))
    assert sara.name == "Sara Ahmed"


# --- bad rows ----------------------------------------------------------------------

BAD_CSV_VALUES = (
    "Bad", "12345", "not-an-email", "pending", "Naive", "7770001", "sara@example.com",
    "050 123 4567", "055 123 4567", "+97155", "Assignee", "multi@example.com", "extra", "Sara",
)  # fmt: skip


async def test_bad_csv_rows_are_reported_by_line_and_the_rest_imported(
    env: StoreEnv, settings: Settings
) -> None:
    report, output = await run(env, settings, DATA / "bad_rows.csv")

    assert report.errors == [
        RowError(3, "phone: not a valid phone number"),
        RowError(4, "email: not a valid e-mail address"),
        RowError(5, "status: must be open or closed"),
        RowError(6, "nothing to identify the contact: give a name, phone, email or channel id"),
        RowError(
            7,
            "last_inbound_at.telegram: needs a UTC offset (e.g. 2026-11-24T12:00:00+04:00 or ...Z)",
        ),
        RowError(8, "last_inbound_at.telegram: the row's telegram is empty"),
        RowError(9, "assignee: not a Slack user id (like U0123ABCD)"),
        RowError(14, "has 9 cells but the header names 8 columns"),
    ]
    # Lines 2, 10-11 (a quoted name over two lines) and 13 (after a blank line).
    assert counts(report) == (3, 0, 0, 8)
    assert one(await env.contacts.find_by_email("multi@example.com"))
    assert one(await env.contacts.find_by_email("last@example.com"))
    lines = output.splitlines()
    assert lines[0] == "imported 3: 3 created, 0 updated, 0 unchanged, 8 bad rows"
    assert lines[1:] == [f"line {e.line}: {e.reason}" for e in report.errors]
    for value in BAD_CSV_VALUES:
        assert value not in output


async def test_bad_json_lines_are_reported_by_line_and_the_rest_imported(
    env: StoreEnv, settings: Settings
) -> None:
    report, output = await run(env, settings, DATA / "bad_rows.jsonl")

    assert [e.line for e in report.errors] == [2, 3, 5, 6]
    assert report.errors[0].reason.startswith("not valid JSON (Expecting ',' delimiter")
    assert report.errors[1:] == [
        RowError(3, "not a JSON object"),
        RowError(5, "unknown fields: fax"),
        RowError(6, "email: must be text"),
    ]
    assert counts(report) == (2, 0, 0, 4)
    assert report.rows == 6  # the blank line 4 is not a row
    for value in ("Broken", "050 123 4568", "04 123 4567", "a@example.com", "Unknown"):
        assert value not in output


async def test_unknown_csv_column_is_reported_once_and_nothing_imported(
    env: StoreEnv, settings: Settings, tmp_path: Path
) -> None:
    path = write(tmp_path, "typo.csv", "first_name,phnoe\nSara,050 123 4567\nOmar,052 123 4567\n")

    report, output = await run(env, settings, path)

    assert counts(report) == (0, 0, 0, 1)
    assert report.errors[0].line == 1
    assert report.errors[0].reason.startswith("unknown columns: phnoe (known: first_name,")
    assert output.splitlines()[1].startswith("line 1: unknown columns: phnoe")
    assert await keys_under(env) == []


async def test_file_without_header_is_refused_without_echoing_the_customer(
    env: StoreEnv, settings: Settings, tmp_path: Path
) -> None:
    path = write(tmp_path, "no-header.csv", "Sara,Ahmed,sara@example.com,0501234567\n")

    report, output = await run(env, settings, path)

    assert report.errors == [
        RowError(
            1,
            "the first line must be a header naming the columns "
            "(e.g. first_name,last_name,email,phone)",
        )
    ]
    for value in ("Sara", "Ahmed", "sara@example.com", "0501234567"):
        assert value not in output


async def test_a_line_that_is_not_utf8_is_a_bad_row(
    env: StoreEnv, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        b"first_name,phone\nJos\xe9,050 123 4567\nOmar,052 123 4567\n"  # line 2 is Latin-1
    )

    report, _ = await run(env, settings, path)

    assert report.errors == [RowError(2, "the line is not UTF-8 text (save the file as UTF-8)")]
    assert counts(report) == (1, 0, 0, 1)


def row_reason(**cells: str) -> str:
    result = validate_row(2, cells, RowContext(default_region="AE", now=NOW))
    assert isinstance(result, RowError), result
    return result.reason


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"phone": "12345"}, "phone: not a valid phone number"),
        ({"phone": "+971 50 123 45x7"}, "phone: not a valid phone number"),
        ({"whatsapp": "abc"}, "whatsapp: not a valid phone number"),
        ({"email": "sara@"}, "email: not a valid e-mail address"),
        ({"first_name": "Sara", "status": "pending"}, "status: must be open or closed"),
        (
            {"first_name": "Sara", "assignee": "sara"},
            "assignee: not a Slack user id (like U0123ABCD)",
        ),
        ({"first_name": "Sa\x00ra"}, "first_name: contains control characters"),
        ({"telegram": "1" * 300}, "telegram: longer than 256 characters"),
        (
            {"whatsapp": SARA_WHATSAPP, "last_inbound_at.whatsapp": "yesterday"},
            "last_inbound_at.whatsapp: not an ISO 8601 time (e.g. 2026-11-24T12:00:00+04:00)",
        ),
        (
            {"whatsapp": SARA_WHATSAPP, "last_inbound_at.whatsapp": "2026-11-20T10:00:00"},
            "last_inbound_at.whatsapp: needs a UTC offset (e.g. 2026-11-24T12:00:00+04:00 or ...Z)",
        ),
        (
            {"whatsapp": SARA_WHATSAPP, "last_inbound_at.whatsapp": "2026-11-20"},
            "last_inbound_at.whatsapp: needs a UTC offset (e.g. 2026-11-24T12:00:00+04:00 or ...Z)",
        ),
        (
            {"whatsapp": SARA_WHATSAPP, "last_inbound_at.whatsapp": "2026-11-25T12:00:00Z"},
            "last_inbound_at.whatsapp: is in the future (check the UTC offset)",
        ),
        (
            {"first_name": "Sara", "last_inbound_at.sms": "2026-11-20T10:00:00Z"},
            "last_inbound_at.sms: the row's phone is empty",
        ),
        (
            {"phone": SARA_PHONE, "last_inbound_at.viber": "2026-11-20T10:00:00Z"},
            "last_inbound_at.viber: the row's viber is empty",
        ),
        (
            {"status": "open", "assignee": "U0123ABCD"},
            "nothing to identify the contact: give a name, phone, email or channel id",
        ),
        (
            {"email": "nope", "phone": "123"},
            "email: not a valid e-mail address; phone: not a valid phone number",
        ),
    ],
    ids=[
        "short-phone",
        "phone-with-letters",
        "whatsapp-not-a-number",
        "email-without-domain",
        "unknown-status",
        "assignee-not-a-user-id",
        "control-character",
        "identity-too-long",
        "time-not-iso",
        "time-without-offset",
        "date-only",
        "time-in-the-future",
        "sms-time-without-phone",
        "viber-time-without-viber",
        "nothing-to-identify",
        "two-problems",
    ],
)
def test_row_validation_names_the_column(cells: dict[str, str], reason: str) -> None:
    assert row_reason(**cells) == reason


def test_row_normalisation() -> None:
    cells = {
        "first_name": unicodedata.normalize("NFD", "  José  "),
        "last_name": "Álvarez   Ruiz",
        "email": " Jose@Example.ES ",
        "phone": "00971 50-123 4567",
        "whatsapp": "050 123 4567",
        "telegram": "5550001",
        "assignee": "u0123abcd",
        "status": "OPEN",
        "last_inbound_at.whatsapp": "2026-11-23T10:00:00.750+04:00",
    }

    result = validate_row(2, cells, RowContext(default_region="AE", now=NOW))

    assert not isinstance(result, RowError)
    draft = result.draft
    assert (draft.first_name, draft.last_name) == ("José", "Álvarez Ruiz")
    assert draft.first_name == unicodedata.normalize("NFC", "José")
    assert (draft.email, draft.phone) == ("jose@example.es", SARA_PHONE)
    assert draft.identities == {
        Channel.WHATSAPP: SARA_WHATSAPP,
        Channel.TELEGRAM: "5550001",
        Channel.SMS: SARA_PHONE,
        Channel.EMAIL: "jose@example.es",
    }
    assert (draft.status, draft.assignee) == (ConversationStatus.OPEN, "U0123ABCD")
    # UTC, whole seconds: the store keeps seconds, so a re-import compares equal.
    assert draft.last_inbound_at == {Channel.WHATSAPP: datetime(2026, 11, 23, 6, 0, tzinfo=UTC)}


# --- idempotency and matching ---------------------------------------------------------


async def test_second_run_of_the_same_file_changes_nothing(
    env: StoreEnv, settings: Settings
) -> None:
    await run(env, settings, DATA / "contacts.csv")
    before = await the_four(env)

    report, output = await run(env, settings, DATA / "contacts.csv")

    assert counts(report) == (0, 0, 4, 0)
    assert report.unchanged == report.rows
    assert output.splitlines() == ["imported 4: 0 created, 0 updated, 4 unchanged, 0 bad rows"]
    after = await the_four(env)
    assert {k: c.version for k, c in after.items()} == {k: c.version for k, c in before.items()}
    assert after == before


@pytest.mark.parametrize("batch_rows", [500, 1], ids=["one-batch", "row-by-row"])
async def test_same_customer_twice_in_a_file_is_one_contact(
    env: StoreEnv, settings: Settings, tmp_path: Path, batch_rows: int
) -> None:
    path = write(
        tmp_path,
        "twice.csv",
        "first_name,last_name,email,phone,whatsapp\n"
        "Sara,,,050 123 4567,\n"
        ",Ahmed,,+971501234567,971501234567\n"
        "Omar,,omar@example.com,,\n"
        "Omar,Haddad,OMAR@example.com,052 123 4567,\n"
        "Sara,Ahmed,sara@example.com,00971 50 123 4567,\n",
    )

    report, _ = await run(env, settings, path, batch_rows=batch_rows)

    assert counts(report) == (2, 3, 0, 0)
    sara = one(await env.contacts.find_by_phone(SARA_PHONE))
    assert sara.name == "Sara Ahmed"
    assert sara.email == "sara@example.com"
    assert sara.identities[Channel.WHATSAPP] == SARA_WHATSAPP
    omar = one(await env.contacts.find_by_email("omar@example.com"))
    assert omar.name == "Omar Haddad"
    assert omar.phone == "+971521234567"
    assert (one(await env.contacts.find_by_phone("+971521234567"))).id == omar.id

    again, _ = await run(env, settings, path, batch_rows=batch_rows)

    assert counts(again) == (0, 0, 5, 0)


async def test_import_and_rerun_on_one_redis_and_on_a_cluster(
    any_env: StoreEnv, settings: Settings
) -> None:
    first, _ = await run(any_env, settings, DATA / "contacts.csv")
    before = await the_four(any_env)
    again, _ = await run(any_env, settings, DATA / "contacts.jsonl")

    assert counts(first) == (4, 0, 0, 0)
    assert counts(again) == (0, 0, 4, 0)
    assert await the_four(any_env) == before


async def test_contact_created_meanwhile_is_joined_not_duplicated(
    env: StoreEnv, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer creates the customer between the lookup and the create."""
    existing = await env.contacts.create(ContactDraft(first_name="Sara", phone=SARA_PHONE), NOW)

    async def nobody(self: object, terms: Iterable[object]) -> dict[object, list[str]]:
        return {term: [] for term in terms}

    path = write(tmp_path, "race.csv", "first_name,last_name,phone\nSara,Ahmed,050 123 4567\n")
    with monkeypatch.context() as patch:
        patch.setattr(ContactStore, "find_holders", nobody)
        report, _ = await run(env, settings, path)

    assert counts(report) == (0, 1, 0, 0)
    sara = one(await env.contacts.find_by_phone(SARA_PHONE))
    assert sara.id == existing.contact_id
    assert sara.name == "Sara Ahmed"


async def test_name_only_rows_do_not_duplicate_on_a_second_run(
    env: StoreEnv, settings: Settings, tmp_path: Path
) -> None:
    path = write(tmp_path, "names.csv", "first_name,last_name\nLayla,Nasser\nLayla,Nasser\n")

    first, _ = await run(env, settings, path)
    second, _ = await run(env, settings, path)

    assert counts(first) == (1, 0, 1, 0)
    assert counts(second) == (0, 0, 2, 0)


async def test_row_joins_an_existing_contact_by_phone(
    env: StoreEnv, settings: Settings, tmp_path: Path
) -> None:
    later = NOW - timedelta(hours=1)
    existing = await env.contacts.create(
        ContactDraft(first_name="Sara", phone=SARA_PHONE, identities={Channel.SMS: SARA_PHONE}),
        NOW,
    )
    await env.contacts.reopen(existing.contact_id, "U0999ZZZZ", NOW)
    await env.contacts.set_state(existing.contact_id, last_inbound_at={Channel.SMS: later})
    path = write(
        tmp_path,
        "join.csv",
        "first_name,last_name,phone,whatsapp,last_inbound_at.sms,last_inbound_at.whatsapp\n"
        "Sara,Ahmed,050 123 4567,+971501234567,2026-11-01T09:00:00Z,2026-11-02T09:00:00Z\n",
    )

    report, _ = await run(env, settings, path)

    assert counts(report) == (0, 1, 0, 0)
    sara = await env.contacts.require(existing.contact_id)
    assert sara.name == "Sara Ahmed"
    assert sara.identities == {Channel.SMS: SARA_PHONE, Channel.WHATSAPP: SARA_WHATSAPP}
    # An older message time than the stored one is kept; a new channel's is added.
    assert sara.conversation.last_inbound_at == {
        Channel.SMS: later,
        Channel.WHATSAPP: datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
    }
    # No status or assignee in the file: the open conversation stays as it is.
    assert sara.conversation.status is ConversationStatus.OPEN
    assert sara.conversation.assignee == "U0999ZZZZ"


async def test_row_whose_phone_and_email_belong_to_two_contacts_is_refused(
    env: StoreEnv, settings: Settings, tmp_path: Path
) -> None:
    first = await env.contacts.create(
        ContactDraft(first_name="Sara", email="sara@example.com", phone=SARA_PHONE), NOW
    )
    other = await env.contacts.create(ContactDraft(first_name="Omar", phone="+971521234567"), NOW)
    before = await env.contacts.require(first.contact_id)
    other_before = await env.contacts.require(other.contact_id)
    path = write(
        tmp_path,
        "clash.csv",
        "first_name,email,phone\nSara,sara@example.com,052 123 4567\nLina,,058 123 4567\n",
    )

    report, output = await run(env, settings, path)

    # The phone matches first (as in `find_match`), so the e-mail is the clash.
    assert report.errors == [RowError(2, "email: belongs to a different contact than the phone")]
    assert counts(report) == (1, 0, 0, 1)
    assert await env.contacts.require(first.contact_id) == before
    assert await env.contacts.require(other.contact_id) == other_before
    assert "052 123 4567" not in output and "+971521234567" not in output


async def test_status_and_assignee_from_the_file_update_an_existing_contact(
    env: StoreEnv, settings: Settings, tmp_path: Path
) -> None:
    await run(env, settings, DATA / "contacts.csv")
    path = write(
        tmp_path,
        "close.jsonl",
        '{"whatsapp": "971501234567", "status": "closed", "assignee": "W0123ABCD"}\n',
    )

    report, _ = await run(env, settings, path)

    assert counts(report) == (0, 1, 0, 0)
    sara = await env.contacts.find_by_identity(Channel.WHATSAPP, SARA_WHATSAPP)
    assert sara is not None
    assert sara.conversation.status is ConversationStatus.CLOSED
    assert sara.conversation.assignee == "W0123ABCD"
    assert sara.email == "sara.ahmed@example.com"  # absent in the file: kept


# --- dry run -------------------------------------------------------------------------


async def test_dry_run_writes_nothing_and_reports_what_it_would_do(
    env: StoreEnv, settings: Settings, tmp_path: Path
) -> None:
    report, output = await run(env, settings, DATA / "contacts.csv", dry_run=True)

    assert counts(report) == (4, 0, 0, 0)
    assert output.splitlines() == [
        "dry run, nothing written: would import 4: 4 created, 0 updated, 0 unchanged, 0 bad rows"
    ]
    assert await keys_under(env) == []

    await run(env, settings, DATA / "contacts.csv")
    before = await the_four(env)
    changed = write(
        tmp_path,
        "changed.csv",
        "first_name,last_name,email,phone,status\n"
        "Sara,Ahmed,,050 123 4567,closed\n"  # open now: updated
        "Zoë,Müller,zoe@example.de,,\n"  # unchanged
        "New,Person,,052 123 4567,\n"  # created
        "New,Person,,052 123 4567,open\n",  # the same new contact, opened: updated
    )

    again, _ = await run(env, settings, changed, dry_run=True)

    assert counts(again) == (1, 2, 1, 0)
    assert await the_four(env) == before
    assert await env.contacts.find_by_phone("+971521234567") == []


async def test_dry_run_reports_bad_rows(env: StoreEnv, settings: Settings) -> None:
    report, output = await run(env, settings, DATA / "bad_rows.csv", dry_run=True)

    assert counts(report) == (3, 0, 0, 8)
    assert "line 3: phone: not a valid phone number" in output.splitlines()
    assert await keys_under(env) == []


# --- progress and output ----------------------------------------------------------------


def generated_csv(path: Path, rows: int, bad_every: int) -> Path:
    """Customers with a Telegram id; every `bad_every`-th row has a bad phone instead."""
    with path.open("w", encoding="utf-8") as file:
        file.write("first_name,last_name,phone,telegram,status\n")
        for i in range(rows):
            if i % bad_every == bad_every - 1:
                file.write(f"Customer{i},Family{i},12345,,closed\n")
            else:
                file.write(f"Customer{i},Family{i},,{900_000_000 + i},closed\n")
    return path


async def test_progress_on_a_large_file_without_personal_data(
    env: StoreEnv, settings: Settings, tmp_path: Path
) -> None:
    # Five batches and two progress steps, scaled down from 25,000 rows and the default
    # step of 10,000 (the same lines, a tenth of the time).
    path = generated_csv(tmp_path / "large.csv", 2_500, bad_every=500)

    report, output = await run(env, settings, path, progress_interval=3600.0, progress_rows=1_000)

    assert counts(report) == (2_495, 0, 0, 5)
    lines = output.splitlines()
    progress = [line for line in lines if line.startswith("progress: ")]
    assert [p.split(" rows/s")[0].rsplit(", ", 1)[0] for p in progress] == [
        "progress: 1000 rows done (2 bad)",
        "progress: 2000 rows done (4 bad)",
    ]
    assert all(p.endswith(" rows/s") for p in progress)
    assert lines[2] == "imported 2495: 2495 created, 0 updated, 0 unchanged, 5 bad rows"
    assert lines[3:] == [
        f"line {n}: phone: not a valid phone number" for n in range(501, 2502, 500)
    ]
    for value in ("Customer", "Family", "+971"):
        assert value not in output
    assert re.search(r"\d{9}", output) is None  # no phone number, in any notation


async def test_progress_every_interval(env: StoreEnv, settings: Settings, tmp_path: Path) -> None:
    path = generated_csv(tmp_path / "small.csv", 5, bad_every=100)

    _, output = await run(env, settings, path, progress_interval=0.0, batch_rows=2)

    progress = [line for line in output.splitlines() if line.startswith("progress: ")]
    assert [p.split(" rows done")[0] for p in progress] == [
        "progress: 2",
        "progress: 4",
        "progress: 5",
    ]


async def test_missing_file_is_reported(env: StoreEnv, settings: Settings, tmp_path: Path) -> None:
    report, output = await run(env, settings, tmp_path / "nope.csv")

    assert report.errors == [RowError(0, "cannot read the file: No such file or directory")]
    assert output.splitlines()[0] == "imported 0: 0 created, 0 updated, 0 unchanged, 1 bad rows"


# --- the command line -----------------------------------------------------------------


def test_followup_import_command_prints_the_summary(redis_url: str, tmp_path: Path) -> None:
    """The real CLI: it writes under the default key prefix of the test server.

    With an outside REDIS_URL (a shared server) it only dry-runs, so the test
    leaves nothing behind there.
    """
    path = write(
        tmp_path,
        "cli.csv",
        "first_name,last_name,phone\nMaryam,Saleh,054 765 4321\nBad,Row,123\n"
        "Khalid,Nour,056 765 4321\n",
    )
    shared = bool(os.environ.get("REDIS_URL"))
    names = set(Settings.env_names())
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(REDIS_URL=redis_url, DEFAULT_PHONE_REGION="AE", PYTHONPATH=str(ROOT))

    run = subprocess.run(
        [sys.executable, "-m", "bot", "import", str(path), *(["--dry-run"] if shared else [])],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 1, run.stderr  # bad rows: the rest imported, exit says so
    assert "imported 2: " in run.stderr
    assert run.stderr.rstrip().endswith("1 bad rows\nline 3: phone: not a valid phone number")
    for value in ("Maryam", "Saleh", "054 765 4321", "+97154", "Khalid"):
        assert value not in run.stderr + run.stdout
