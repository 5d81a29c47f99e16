"""Editing a contact (name, phone, e-mail) from its search result, /reopen answer
and thread root; a phone or e-mail of another contact asks to merge the two.

SPEC "Finding a contact". Signed requests into the real app (tests/slack/conftest.py).
"""

from __future__ import annotations

from typing import Any

from bot.domain.channels import Channel
from bot.slack import ids
from bot.slack.blocks.contact_edit import BLOCKS
from bot.store.search import SearchFilters
from tests.slack.conftest import AGENT, Surface
from tests.slack.test_find_contact import buttons

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def typed(first: str = "", last: str = "", phone: str = "", email: str = "") -> dict[str, Any]:
    values = {"first_name": first, "last_name": last, "phone": phone, "email": email}
    actions = {
        "first_name": ids.EDIT_FIRST_NAME,
        "last_name": ids.EDIT_LAST_NAME,
        "phone": ids.EDIT_PHONE,
        "email": ids.EDIT_EMAIL,
    }
    return {
        BLOCKS[name]: {actions[name]: {"type": "plain_text_input", "value": value or None}}
        for name, value in values.items()
    }


async def open_editor(surface: Surface, contact_id: str) -> dict[str, Any]:
    status, ack, _ = await surface.click(ids.CONTACT_EDIT, contact_id)
    await surface.settle()
    assert status == 200 and ack == {}
    view = surface.last_view()
    assert view["callback_id"] == ids.EDIT_VIEW
    return view


async def names(surface: Surface, query: str) -> list[str]:
    page = await surface.deps.search.search(query, SearchFilters(status=None))
    return [c.display_name for c in page.contacts]


async def test_a_nameless_wechat_contact_gets_a_name_from_its_search_result(
    surface: Surface,
) -> None:
    wechat = await surface.contact("", identities={Channel.WECHAT: OPENID}, assignee=AGENT)
    _, _, url = await surface.command(ids.FIND_CONTACT, OPENID)
    await surface.settle()
    [answer] = surface.slack.answers_to(url)
    assert (ids.CONTACT_EDIT, wechat) in buttons(answer["blocks"])

    view = await open_editor(surface, wechat)
    status, ack = await surface.submit(view, typed("Li", "Wei", "+971 50 765 4321", "li@ex.com"))
    await surface.settle()

    assert status == 200 and ack == {}
    contact = await surface.deps.contacts.require(wechat)
    assert (contact.first_name, contact.last_name) == ("Li", "Wei")
    assert (contact.phone, contact.email) == ("+971507654321", "li@ex.com")
    # Re-indexed: found by the new name, phone and e-mail.
    assert await names(surface, "li wei") == ["Li Wei"]
    assert await names(surface, "0507654321") == ["Li Wei"]
    assert await names(surface, "li@ex.com") == ["Li Wei"]


async def test_an_invalid_phone_or_email_is_a_field_error(surface: Surface) -> None:
    sara = await surface.contact("Sara", "Ahmed", email="sara@example.com")
    view = await open_editor(surface, sara)
    assert "Sara" in str(view["blocks"]) and "sara@example.com" in str(view["blocks"])

    status, ack = await surface.submit(view, typed("Sara", "Ahmed", "12ab", "not-an-email"))

    assert status == 200 and ack["response_action"] == "errors"
    assert set(ack["errors"]) == {BLOCKS["phone"], BLOCKS["email"]}
    assert "valid phone number" in ack["errors"][BLOCKS["phone"]]
    contact = await surface.deps.contacts.require(sara)
    assert (contact.phone, contact.email) == (None, "sara@example.com")


async def test_edit_is_offered_on_the_reopen_answer_and_the_thread_root(
    surface: Surface,
) -> None:
    from bot.slack.blocks.threads import root_buttons

    omar = await surface.contact("Omar", "Saleh", email="omar@example.com", assignee=AGENT)
    _, _, url = await surface.command(ids.REOPEN, omar)
    await surface.settle()
    [answer] = surface.slack.answers_to(url)
    assert (ids.CONTACT_EDIT, omar) in buttons(answer["blocks"])
    contact = await surface.deps.contacts.require(omar)
    root = root_buttons(contact, "en").to_dict()
    assert (ids.CONTACT_EDIT, omar) in buttons([root])


async def test_a_phone_of_another_contact_asks_to_merge_and_merging_keeps_both(
    surface: Surface,
) -> None:
    wechat = await surface.contact("", identities={Channel.WECHAT: OPENID})
    sara = await surface.contact(
        "Sara",
        "Ahmed",
        phone="+971501234567",
        identities={Channel.WHATSAPP: "971501234567", Channel.TELEGRAM: "548213907"},
    )
    view = await open_editor(surface, wechat)

    status, ack = await surface.submit(view, typed("Sara", "Ahmed", "0501234567"))

    # Not saved: the modal asks whether the two are one customer.
    assert status == 200 and ack["response_action"] == "update"
    question = ack["view"]
    assert question["callback_id"] == ids.MERGE_VIEW
    assert "already belongs to *Sara Ahmed*" in str(question["blocks"])
    assert (await surface.deps.contacts.require(wechat)).phone is None

    status, ack = await surface.submit(dict(question, id="V0MERGE"), {})
    await surface.settle()

    assert status == 200 and ack == {}
    merged = await surface.deps.contacts.require(wechat)
    assert merged.name == "Sara Ahmed" and merged.phone == "+971501234567"
    assert set(merged.identities) == {Channel.WECHAT, Channel.WHATSAPP, Channel.TELEGRAM}
    # The other contact's id now leads to the survivor; search finds one contact.
    assert (await surface.deps.contacts.require(sara)).id == wechat
    assert await names(surface, "sara") == ["Sara Ahmed"]
    assert await names(surface, "548213907") == ["Sara Ahmed"]


async def test_contacts_with_two_identities_on_one_channel_are_not_merged(
    surface: Surface,
) -> None:
    one = await surface.contact("", identities={Channel.TELEGRAM: "111111111"})
    await surface.contact("Other", phone="+971501111111", identities={Channel.TELEGRAM: "2222"})
    view = await open_editor(surface, one)

    status, ack = await surface.submit(view, typed(phone="+971501111111"))

    assert status == 200 and ack["response_action"] == "errors"
    assert "cannot be merged" in ack["errors"][BLOCKS["phone"]]
    assert (await surface.deps.contacts.require(one)).phone is None


async def test_a_merge_confirmed_after_the_other_contact_went_says_so(surface: Surface) -> None:
    wechat = await surface.contact("", identities={Channel.WECHAT: OPENID})
    other = await surface.contact("Huda", phone="+971502222222")
    view = await open_editor(surface, wechat)
    _, ack = await surface.submit(view, typed(phone="+971502222222"))
    question = ack["view"]
    await surface.deps.contacts.delete(other)

    status, ack = await surface.submit(dict(question, id="V0MERGE2"), {})

    assert status == 200 and ack["response_action"] == "update"
    assert "no longer exists" in str(ack["view"]["blocks"])
    assert (await surface.deps.contacts.require(wechat)).phone is None
