"""`/followup <contact> [message]`: which leading words name the contact, in one search."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.domain.channels import Channel
from bot.services.directory import Directory, Lookup
from bot.store.contacts import ContactDraft
from tests.conftest import StoreEnv
from tests.round_trips import RoundTrips


@pytest.fixture
async def directory(env: StoreEnv, now: datetime) -> Directory:
    for first, last, email, phone in [
        ("Mona", "Ali Hassan", "mona@example.com", "+971501110001"),
        ("Mona", "Ali", "mona.ali@example.com", "+971501110002"),
        ("Karim", "Nassar", "karim@example.com", "+971501110003"),
        ("Karim", "Nassar Saleh", "k.saleh@example.com", "+971501110004"),
        ("Layla", "Haddad", "layla@example.com", "+971501110005"),
        ("Layla", "Hamdan", "l.hamdan@example.com", "+971501110006"),
    ]:
        draft = ContactDraft(
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
            identities={Channel.WHATSAPP: phone[1:]},
        )
        await env.contacts.create(draft, now)
    return Directory(env.contacts, env.search)


@pytest.mark.parametrize(
    ("line", "name", "message"),
    [
        ("mona ali hassan", "Mona Ali Hassan", ""),
        ("mona ali hassan your order shipped", "Mona Ali Hassan", "your order shipped"),
        ("mona ali your order shipped", "Mona Ali", "your order shipped"),
        ("karim nassar saleh hi", "Karim Nassar Saleh", "hi"),
        ("karim nassar hello there", "Karim Nassar", "hello there"),
        ("layla@example.com see you at 5", "Layla Haddad", "see you at 5"),
        ("+971501110006 thanks", "Layla Hamdan", "thanks"),
    ],
    ids=[
        "three_words_alone",
        "three_words_and_message",
        "two_words_exact_beats_longer_name",
        "three_word_name",
        "two_words_exact_among_two",
        "email_and_message",
        "phone_and_message",
    ],
)
async def test_the_longest_head_naming_one_contact_wins(
    directory: Directory, line: str, name: str, message: str
) -> None:
    lookup, rest = await directory.split(line)
    assert lookup.contact is not None and lookup.contact.name == name
    assert rest == message


async def test_a_name_that_fits_several_offers_them_with_the_rest_as_message(
    directory: Directory,
) -> None:
    lookup, rest = await directory.split("layla ha see you soon")
    assert lookup.contact is None and lookup.ambiguous
    assert {c.name for c in lookup.choices} == {"Layla Haddad", "Layla Hamdan"}
    assert rest == "see you soon"


async def test_the_longest_head_with_choices_is_kept_when_none_names_one(
    directory: Directory,
) -> None:
    lookup, rest = await directory.split("karim n\nthe parcel")
    assert lookup.ambiguous and rest == "the parcel"  # "karim n" fits both Karims


async def test_nothing_found_answers_for_the_first_word(directory: Directory) -> None:
    lookup, rest = await directory.split("zzzz qqqq wwww")
    assert lookup.contact is None and not lookup.choices and lookup.error is None
    assert rest == "qqqq wwww"


async def test_a_first_word_too_short_to_search_is_the_error(directory: Directory) -> None:
    lookup, rest = await directory.split("q")
    assert lookup.error is not None and lookup.error.key == "search.query_too_short"
    assert rest == ""


async def test_a_contact_id_names_its_contact(directory: Directory, env: StoreEnv) -> None:
    layla = (await directory.split("layla haddad"))[0].contact
    assert layla is not None
    lookup, rest = await directory.split(f"{layla.id} hello")
    assert lookup.contact == layla and rest == "hello"


async def test_every_head_is_searched_in_one_round_trip(
    directory: Directory, env: StoreEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    await directory.split("karim")  # the scripts loaded
    searches = RoundTrips(env, monkeypatch)
    lookup, rest = await directory.split("karim nassar saleh your parcel left today")
    assert lookup.contact is not None and lookup.contact.name == "Karim Nassar Saleh"
    assert rest == "your parcel left today"
    assert searches.count == 1


async def test_lookup_many_answers_each_as_lookup_alone(directory: Directory) -> None:
    texts = ["mona", "mona ali", "layla@example.com", "q", "nobody here"]
    alone = [seen(await directory.lookup(text)) for text in texts]
    assert [seen(lookup) for lookup in await directory.lookup_many(texts)] == alone


def seen(lookup: Lookup) -> tuple[object, ...]:
    """What a lookup tells the agent (errors compared by their catalogue key)."""
    error = (lookup.error.key, dict(lookup.error.params)) if lookup.error else None
    return (lookup.contact, lookup.choices, lookup.more, error)
