"""`/find-contact`: results, filters, paging, the search modal, bad queries.

SPEC "Finding a contact".
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.domain.channels import Channel
from bot.slack import ids
from tests.slack.conftest import AGENT, OTHER_AGENT, Surface


def texts(blocks: list[dict[str, Any]]) -> str:
    """Every visible text of some blocks, joined (for assertions)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text"):
                out.append(str(node.get("text", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return "\n".join(out)


def buttons(blocks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "button":
                found.append((node["action_id"], node.get("value", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


async def test_find_contact_lists_closed_matches_with_window_words_and_buttons(
    surface: Surface,
) -> None:
    wrote = surface.now - timedelta(days=3, hours=1)
    sara = await surface.contact(
        "Sara",
        "Ahmed",
        phone="+971501234567",
        identities={Channel.WHATSAPP: "971501234567"},
        assignee=AGENT,
        last_inbound={Channel.WHATSAPP: wrote},
    )

    status, ack, url = await surface.command(ids.FIND_CONTACT, "sara")
    await surface.settle()

    assert status == 200 and ack == {}
    [answer] = surface.slack.answers_to(url)
    assert answer["response_type"] == "ephemeral"
    shown = texts(answer["blocks"])
    assert "Sara Ahmed" in shown
    assert "WhatsApp: window closed 2 d ago — template only" in shown
    assert "last message 3 d ago" in shown
    assert (ids.CONTACT_REOPEN, sara) in buttons(answer["blocks"])
    assert (ids.CONTACT_FOLLOWUP, sara) in buttons(answer["blocks"])


async def test_find_contact_defaults_to_my_inbox_and_all_finds_others(surface: Surface) -> None:
    await surface.contact("Omar", "Khalil", email="omar@example.com", assignee=OTHER_AGENT)

    _, _, mine = await surface.command(ids.FIND_CONTACT, "omar")
    _, _, everyone = await surface.command(ids.FIND_CONTACT, "omar --all")
    await surface.settle()

    # My inbox · Closed finds nothing: the answer shows what every inbox holds, saying so.
    [answer] = surface.slack.answers_to(mine)
    assert answer["text"].startswith("Nothing for “omar” in My inbox · Closed")
    assert "found in all inboxes, any status:" in answer["text"]
    assert "Omar Khalil" in texts(answer["blocks"])
    assert "Omar Khalil" in texts(surface.slack.answers_to(everyone)[0]["blocks"])
    assert "Nothing for" not in surface.slack.answers_to(everyone)[0]["text"]


async def test_nothing_anywhere_still_says_no_contact_found(surface: Surface) -> None:
    _, _, mine = await surface.command(ids.FIND_CONTACT, "zzyzx")
    _, _, widest = await surface.command(ids.FIND_CONTACT, "zzyzx --all --any")
    await surface.settle()
    for url in (mine, widest):
        [answer] = surface.slack.answers_to(url)
        assert "No contact found" in answer["text"]


async def test_widened_results_page_on_with_the_wider_filters(surface: Surface) -> None:
    for n in range(7):
        await surface.contact(
            "Rasha", f"R{n}", email=f"rasha{n}@example.com", assignee=OTHER_AGENT, status="open"
        )
    _, _, url = await surface.command(ids.FIND_CONTACT, "rasha --by-name")
    await surface.settle()
    [answer] = surface.slack.answers_to(url)
    assert "found in all inboxes, any status" in answer["text"]
    [(_, more)] = [b for b in buttons(answer["blocks"]) if b[0] == ids.SEARCH_MORE]
    assert json.loads(more)["sc"] == "all" and json.loads(more)["st"] == "any"
    _, _, click_url = await surface.click(ids.SEARCH_MORE, more)
    await surface.settle()
    [page] = surface.slack.answers_to(click_url)
    assert "R5" in texts(page["blocks"]) and "R6" in texts(page["blocks"])


async def test_find_contact_open_and_any_filters(surface: Surface) -> None:
    await surface.contact("Layla", "Open", email="layla@example.com", assignee=AGENT, status="open")

    _, _, closed = await surface.command(ids.FIND_CONTACT, "layla")
    _, _, opened = await surface.command(ids.FIND_CONTACT, "layla --open")
    _, _, anything = await surface.command(ids.FIND_CONTACT, "layla --any")
    await surface.settle()

    widened = surface.slack.answers_to(closed)[0]
    assert "found in all inboxes, any status" in widened["text"]
    assert "Layla Open" in texts(widened["blocks"])
    assert "Layla Open" in texts(surface.slack.answers_to(opened)[0]["blocks"])
    assert "Layla Open" in texts(surface.slack.answers_to(anything)[0]["blocks"])


async def test_more_pages_through_results_on_each_click_s_own_response_url(
    surface: Surface,
) -> None:
    for n in range(12):
        await surface.contact(
            "Noor",
            f"N{n:02d}",
            email=f"noor{n}@example.com",
            assignee=AGENT,
            last_inbound={Channel.WEBCHAT: surface.now - timedelta(minutes=n)},
            identities={Channel.WEBCHAT: f"v{n}"},
        )

    _, _, url = await surface.command(ids.FIND_CONTACT, "noor --by-name")
    await surface.settle()
    first = surface.slack.answers_to(url)[0]
    assert "N00" in texts(first["blocks"]) and "N05" not in texts(first["blocks"])
    [(_, more)] = [b for b in buttons(first["blocks"]) if b[0] == ids.SEARCH_MORE]

    seen = []
    for _ in range(2):
        _, _, click_url = await surface.click(ids.SEARCH_MORE, more)
        await surface.settle()
        [page] = surface.slack.answers_to(click_url)
        assert page["replace_original"] is True
        seen.append(texts(page["blocks"]))
        nexts = [b for b in buttons(page["blocks"]) if b[0] == ids.SEARCH_MORE]
        more = nexts[0][1] if nexts else ""
    assert "N05" in seen[0] and "N09" in seen[0]
    assert "N10" in seen[1] and "N11" in seen[1]
    assert more == ""  # the last page has no More


async def test_bad_query_is_answered_in_the_ack(surface: Surface) -> None:
    status, ack, url = await surface.command(ids.FIND_CONTACT, "s")
    assert status == 200
    assert ack["response_type"] == "ephemeral"
    assert "at least 2 characters" in ack["text"]
    status, ack, _ = await surface.command(ids.FIND_CONTACT, "sara --everything")
    assert "--everything" in ack["text"]
    await surface.settle()
    assert surface.slack.answers_to(url) == []


async def test_no_query_opens_the_search_modal_and_its_results_come_back(
    surface: Surface,
) -> None:
    await surface.contact("Huda", "Saleh", email="huda@example.com", assignee=OTHER_AGENT)

    status, ack, _ = await surface.command(ids.FIND_CONTACT, "", channel="C0HERE")
    await surface.settle()
    assert status == 200 and ack == {}
    view = surface.last_view()
    assert view["callback_id"] == ids.SEARCH_VIEW

    def values(query: str) -> dict[str, Any]:
        return {
            "q": {ids.SEARCH_QUERY: {"type": "plain_text_input", "value": query}},
            "scope": {ids.SEARCH_SCOPE: {"selected_option": {"value": "all"}}},
            "status": {ids.SEARCH_STATUS: {"selected_option": {"value": "any"}}},
            "sort": {ids.SEARCH_SORT: {"selected_option": {"value": "recent"}}},
        }

    status, ack = await surface.submit(view, values("h"))
    assert ack["response_action"] == "errors" and "q" in ack["errors"]

    status, ack = await surface.submit(view, values("huda"))
    await surface.settle()
    assert status == 200 and ack == {}
    [posted] = surface.slack.calls_to("chat.postEphemeral")
    assert posted.args["channel"] == "C0HERE" and posted.args["user"] == AGENT
    assert "Huda Saleh" in texts(posted.args["blocks"])


async def test_the_search_modal_widens_an_empty_default_search(surface: Surface) -> None:
    await surface.contact("Huda", "Saleh", email="huda@example.com", assignee=OTHER_AGENT)
    await surface.command(ids.FIND_CONTACT, "", channel="C0HERE")
    await surface.settle()
    view = surface.last_view()
    values = {
        "q": {ids.SEARCH_QUERY: {"type": "plain_text_input", "value": "huda"}},
        "scope": {ids.SEARCH_SCOPE: {"selected_option": {"value": "mine"}}},
        "status": {ids.SEARCH_STATUS: {"selected_option": {"value": "closed"}}},
        "sort": {ids.SEARCH_SORT: {"selected_option": {"value": "recent"}}},
    }
    status, ack = await surface.submit(view, values)
    await surface.settle()
    assert status == 200 and ack == {}
    [posted] = surface.slack.calls_to("chat.postEphemeral")
    assert "Nothing for “huda” in My inbox · Closed" in posted.args["text"]
    assert "Huda Saleh" in texts(posted.args["blocks"])


async def test_a_request_with_a_bad_signature_is_refused(surface: Surface) -> None:
    response = await surface.post(
        "command=%2Ffind-contact&text=sara&user_id=U1",
        "application/x-www-form-urlencoded",
        secret="not-the-secret",
    )
    assert response.status == 401
    stale = await surface.post(
        "command=%2Ffind-contact&text=sara&user_id=U1",
        "application/x-www-form-urlencoded",
        timestamp=1_000_000_000,
    )
    assert stale.status == 401


async def test_more_value_fits_slack_limits() -> None:
    from bot.services.directory import FindArgs
    from bot.slack.blocks.contact_blocks import pack_page, unpack_page

    args = FindArgs(query="x" * 5000)
    packed = pack_page(args, 10)
    assert len(packed) < 2000
    back, offset = unpack_page(packed)
    assert offset == 10 and back.query == "x" * 500
    assert json.loads(packed)["o"] == 10


async def test_open_thread_answers_with_the_threads_link_asked_of_slack_once(
    surface: Surface,
) -> None:
    from tests.slack.conftest import SUPPORT_CHANNEL

    cid = await surface.contact("Sara", "Ahmed", email="sara@example.com", assignee=AGENT)
    _, _, url = await surface.click(ids.CONTACT_OPEN_THREAD, cid)
    await surface.settle()
    assert "no thread yet" in surface.slack.answers_to(url)[0]["text"]

    ts = "1795000999.000100"
    surface.slack.messages[(SUPPORT_CHANNEL, ts)] = {"ts": ts, "text": "root"}
    await surface.deps.contacts.set_thread(cid, ts)
    urls = []
    for _ in range(2):
        _, _, url = await surface.click(ids.CONTACT_OPEN_THREAD, cid)
        await surface.settle()
        urls.append(url)

    for url in urls:
        [answer] = surface.slack.answers_to(url)
        assert f"archives/{SUPPORT_CHANNEL}/p1795000999000100" in answer["text"]
    assert len(surface.slack.calls_to("chat.getPermalink")) == 1  # then kept in Redis
