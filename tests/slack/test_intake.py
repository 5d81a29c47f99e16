"""Nothing an agent submits is lost once acknowledged (issue 10, item 1).

A submission that will send or change something is stored in Redis before
Slack gets its ack, worked from there, and adopted by a live process when
the one that took it dies; its answer goes through the `response_url` while
that lives (30 minutes), else by direct message. Slack's own identifiers make
a retried request act once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.domain.channels import Channel
from bot.domain.models import ConversationStatus
from bot.metrics import REGISTRY
from bot.slack import ids
from bot.slack import intake as intake_module
from bot.slack.intake import RERUN, slack_key
from bot.store.connection import create_redis
from bot.store.contacts import ContactStore
from bot.store.intake import MAX_TRIES, IntakeEntry, IntakeStore, entry_id_for
from bot.store.outbox import OutboxStore, month_of
from bot.store.scripts import COMMIT_SEND
from handlers.commands.followup import KIND as FOLLOWUP
from handlers.commands.reopen import KIND as REOPEN
from tests.fakes.redis_proxy import RedisProxy
from tests.fakes.slack import FakeSlack
from tests.slack.compose_steps import messages_of, open_composer, values_of
from tests.slack.conftest import AGENT, TEAM, Surface, running_surface


def command_body(surface: Surface, name: str, text: str) -> dict[str, Any]:
    """A slash command's payload as Bolt parses it (and the intake stores it)."""
    return {
        "team_id": TEAM,
        "channel_id": "C0GENERAL",
        "user_id": AGENT,
        "command": name,
        "text": text,
        "response_url": surface.slack.response_url(),
        "trigger_id": f"{uuid.uuid4().int % 10**12}.dead",
    }


async def left_by_a_dead_process(
    surface: Surface, kind: str, body: dict[str, Any], *, age: timedelta = timedelta(0)
) -> None:
    """What a process killed right after its ack leaves: the entry, owned by it."""
    received = (surface.now - age).timestamp()
    entry = IntakeEntry(entry_id_for(slack_key(body)), kind, body, "en", received)
    store = IntakeStore(surface.deps.redis, surface.deps.keys)
    assert await store.take(entry, "host-1-killed")  # no heartbeat: dead
    surface.deps.intake.liveness.steady_ms = 0  # judge at once (not 3 s after start)


async def until_worked(surface: Surface) -> None:
    store = IntakeStore(surface.deps.redis, surface.deps.keys)
    for _ in range(100):
        await surface.settle()
        if not await store.owners():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the dead process's submission was not adopted")


async def test_a_follow_up_is_in_redis_before_its_ack(surface: Surface) -> None:
    await surface.contact("Sara", "Ahmed", identities={Channel.TELEGRAM: "7101"})
    held: list[Any] = []
    background = surface.deps.background
    run = background.run
    background.run = lambda work, on_error=None: held.append((work, on_error))  # type: ignore[method-assign]
    try:
        status, ack, _ = await surface.command(ids.FOLLOWUP, "Sara Ahmed Your fix is live")
    finally:
        background.run = run  # type: ignore[method-assign]
    assert status == 200 and ack == {}
    # The ack is out, the work not begun (as if the process died now): it is stored.
    owners = await IntakeStore(surface.deps.redis, surface.deps.keys).owners()
    assert list(owners.values()) == [surface.deps.intake.owner]
    for work, _ in held:
        work.close()


async def test_a_dead_process_s_follow_up_is_sent_and_answered_by_another(
    surface: Surface,
) -> None:
    cid = await surface.contact("Sara", "Ahmed", identities={Channel.TELEGRAM: "7102"})
    body = command_body(surface, ids.FOLLOWUP, "Sara Ahmed Your fix is live")
    await left_by_a_dead_process(surface, FOLLOWUP, body)
    adopted = REGISTRY.get_sample_value("slack_intake_adopted_total") or 0.0

    await until_worked(surface)

    assert REGISTRY.get_sample_value("slack_intake_adopted_total") == adopted + 1  # /metrics
    [message] = await messages_of(surface, cid)
    assert message.content.text == "Your fix is live"
    assert message.idempotency_key == body["trigger_id"]  # the command's own key
    [answer] = surface.slack.answers_to(body["response_url"])
    assert "On its way to *Sara Ahmed* on Telegram" in answer["text"]


async def test_an_adopted_submission_older_than_its_response_url_is_answered_by_dm(
    surface: Surface,
) -> None:
    cid = await surface.contact("Omar", "Khalil", identities={Channel.TELEGRAM: "7103"})
    body = command_body(surface, ids.REOPEN, "Omar Khalil")
    await left_by_a_dead_process(surface, REOPEN, body, age=timedelta(minutes=31))

    await until_worked(surface)

    contact = await surface.deps.contacts.get(cid)
    assert contact is not None and contact.conversation.status is ConversationStatus.OPEN
    assert surface.slack.answers_to(body["response_url"]) == []  # expired: not used
    dms = [c.args for c in surface.slack.calls_to("chat.postMessage")]
    assert any(dm["channel"] == AGENT and "Omar Khalil" in str(dm) for dm in dms)


async def test_a_retried_command_acts_once(surface: Surface) -> None:
    cid = await surface.contact("Lina", "Haddad", identities={Channel.TELEGRAM: "7104"})
    body = command_body(surface, ids.FOLLOWUP, "Lina Haddad Hello")
    await left_by_a_dead_process(surface, FOLLOWUP, body)
    await until_worked(surface)
    # Slack sends the same command again (same trigger_id): stored once, worked once.
    taken = await surface.deps.intake.submit(FOLLOWUP, body, "en")
    await surface.settle()

    assert taken is False
    assert len(await messages_of(surface, cid)) == 1
    assert len(surface.slack.answers_to(body["response_url"])) == 1


async def test_a_follow_up_committed_before_the_death_is_answered_as_sent(
    surface: Surface,
) -> None:
    """The dead process committed the follow-up, then died before answering."""
    cid = await surface.contact("Nour", "Saleh", identities={Channel.TELEGRAM: "7105"})
    body = command_body(surface, ids.FOLLOWUP, "Nour Saleh Your refund is done")
    await surface.deps.intake.submit(FOLLOWUP, body, "en")  # worked here: committed
    await surface.settle()
    surface.slack.responses.clear()
    # The same submission left over by a process that died before forgetting it.
    await IntakeStore(surface.deps.redis, surface.deps.keys).finish(entry_id_for(slack_key(body)))
    await surface.deps.redis.delete(surface.deps.keys.intake_seen(entry_id_for(slack_key(body))))
    await left_by_a_dead_process(surface, FOLLOWUP, body)

    await until_worked(surface)

    assert len(await messages_of(surface, cid)) == 1  # not sent twice
    [answer] = surface.slack.answers_to(body["response_url"])
    assert "On its way to *Nour Saleh* on Telegram" in answer["text"]  # not "already sent"


async def test_work_cut_by_a_redis_outage_is_done_when_redis_is_back(
    surface: Surface, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake_module, "OUTAGE_RETRY_EVERY", 0.05)
    runs: list[dict[str, Any]] = []

    async def flaky(body: dict[str, Any], lang: str) -> None:
        runs.append(body)
        if len(runs) == 1:
            raise RedisConnectionError("Connection refused")  # Redis away for a moment

    failures: list[BaseException] = []

    def on_error(body: dict[str, Any], lang: str) -> Callable[[BaseException], Awaitable[None]]:
        async def told(error: BaseException) -> None:
            failures.append(error)

        return told

    surface.deps.intake.on("test.flaky", flaky, on_error)
    body = command_body(surface, "/flaky", "x")
    assert await surface.deps.intake.submit("test.flaky", body, "en")
    await until_worked(surface)

    assert len(runs) == 2 and RERUN not in runs[0] and runs[1][RERUN] is True
    assert failures == []  # done, not refused


async def test_an_adopted_command_to_open_the_composer_says_to_run_it_again(
    surface: Surface,
) -> None:
    """Its trigger (3 s) is gone by the time another process works it: no modal
    can open, so the agent is told so instead of an apology."""
    await surface.contact("Hana", "Aziz", identities={Channel.TELEGRAM: "7106"})
    body = command_body(surface, ids.FOLLOWUP, "Hana Aziz")
    await left_by_a_dead_process(surface, FOLLOWUP, body)

    await until_worked(surface)

    assert surface.slack.calls_to("views.open") == []
    [answer] = surface.slack.answers_to(body["response_url"])
    assert "could not open in time" in answer["text"] and "Hana Aziz" in answer["text"]


async def test_a_follow_up_whose_take_lost_its_answer_is_sent_and_never_told_nothing_was_sent(
    surface: Surface, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The take ran in Redis, its answer was lost (the connection dropped): the
    agent is told "not sure yet, we'll tell you", and once Redis answers again
    the follow-up is sent and the agent told so — never "nothing was sent"."""
    monkeypatch.setattr(intake_module, "OUTAGE_RETRY_EVERY", 0.05)
    cid = await surface.contact("Nour", "Saleh", identities={Channel.TELEGRAM: "7301"})
    host, port = redis_url.removeprefix("redis://").split("/")[0].split(":")
    proxy = await RedisProxy(host, int(port)).start()
    proxied = create_redis(proxy.url)
    surface.deps.intake.store = IntakeStore(proxied, surface.deps.keys)
    try:
        proxy.mode = "lose_answer"
        status, ack, url = await surface.command(ids.FOLLOWUP, "Nour Saleh Your parcel left")
        assert proxy.scripts_run >= 1 and proxy.answers_lost >= 1  # it ran; answer lost
        assert status == 200
        assert "we'll tell you here" in ack["text"] and "nothing was sent" not in ack["text"]
        proxy.mode = "pass"  # Redis answers again
        await until_worked(surface)
    finally:
        await proxied.aclose()
        await proxy.close()

    assert len(await messages_of(surface, cid)) == 1  # sent, once
    [answer] = surface.slack.answers_to(url)
    assert "On its way to *Nour Saleh* on Telegram" in answer["text"]


async def test_a_follow_up_whose_take_never_reached_redis_is_told_nothing_was_sent(
    surface: Surface, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake_module, "OUTAGE_RETRY_EVERY", 0.05)
    cid = await surface.contact("Nour", "Saleh", identities={Channel.TELEGRAM: "7302"})
    host, port = redis_url.removeprefix("redis://").split("/")[0].split(":")
    proxy = await RedisProxy(host, int(port)).start()
    proxied = create_redis(proxy.url)
    surface.deps.intake.store = IntakeStore(proxied, surface.deps.keys)
    try:
        proxy.mode = "refuse"
        status, ack, url = await surface.command(ids.FOLLOWUP, "Nour Saleh Your parcel left")
        assert proxy.scripts_run == 0
        assert status == 200 and "we'll tell you here" in ack["text"]
        proxy.mode = "pass"
        for _ in range(100):  # settled once Redis answers: not taken, and told so
            await surface.settle()
            if surface.slack.answers_to(url):
                break
            await asyncio.sleep(0.05)
        # The lost call can never take it later: it is marked as seen.
        body = {"command": ids.FOLLOWUP, "trigger_id": surface.trigger_ids[-1]}
        entry = IntakeEntry(entry_id_for(slack_key(body)), FOLLOWUP, body, "en", 0.0)
        assert await IntakeStore(surface.deps.redis, surface.deps.keys).take(entry, "x") is False
    finally:
        await proxied.aclose()
        await proxy.close()

    assert await messages_of(surface, cid) == []
    [answer] = surface.slack.answers_to(url)
    assert "nothing was sent" in answer["text"]


async def test_a_follow_up_whose_take_lost_its_answer_once_is_worked_at_once(
    surface: Surface, redis_url: str
) -> None:
    """The take ran, its answer was lost, and the connection's retry of the same
    call answered: that retry is our own take, not a Slack retry of one taken
    before, so the follow-up is worked now (not left stored under a live owner,
    which nobody would adopt)."""
    cid = await surface.contact("Nour", "Saleh", identities={Channel.TELEGRAM: "7303"})
    host, port = redis_url.removeprefix("redis://").split("/")[0].split(":")
    proxy = await RedisProxy(host, int(port)).start()
    proxied = create_redis(proxy.url)
    surface.deps.intake.store = IntakeStore(proxied, surface.deps.keys)
    try:
        proxy.mode = "lose_one_answer"
        status, _, url = await surface.command(ids.FOLLOWUP, "Nour Saleh Your parcel left")
        assert proxy.scripts_run >= 2 and proxy.answers_lost == 1  # it ran, and again
        assert status == 200
        await until_worked(surface)
    finally:
        await proxied.aclose()
        await proxy.close()

    assert len(await messages_of(surface, cid)) == 1  # sent, once
    [answer] = surface.slack.answers_to(url)
    assert "On its way to *Nour Saleh* on Telegram" in answer["text"]


async def test_healthz_is_not_ok_while_slack_requests_fail_on_redis(
    surface: Surface, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PING answers, but the intake's script calls fail: /healthz says 503 with the
    reason, as it does for a webhook failing on Redis."""
    monkeypatch.setattr(intake_module, "OUTAGE_RETRY_EVERY", 0.05)
    await surface.contact("Nour", "Saleh", identities={Channel.TELEGRAM: "7304"})
    host, port = redis_url.removeprefix("redis://").split("/")[0].split(":")
    proxy = await RedisProxy(host, int(port)).start()
    proxied = create_redis(proxy.url)
    surface.deps.intake.store = IntakeStore(proxied, surface.deps.keys)
    try:
        proxy.mode = "refuse"
        status, _, _ = await surface.command(ids.FOLLOWUP, "Nour Saleh Your parcel left")
        assert status == 200  # the agent is answered in the ack
        health = await surface.client.get("/healthz")
        assert health.status == 503
        assert "requests failing (slack" in (await health.json())["reason"]
        proxy.mode = "pass"
        await surface.settle()
    finally:
        await proxied.aclose()
        await proxy.close()


async def test_a_viber_follow_up_whose_commit_lost_its_answer_keeps_its_quota_slot(
    redis_url: str, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit ran, its answer was lost: the month's reservation is not given
    back (the message holds it: more counted, never fewer), and the rerun finds
    it done."""
    monkeypatch.setattr(intake_module, "OUTAGE_RETRY_EVERY", 0.05)
    async with running_surface(redis_url, slack, viber_monthly_free=5) as surface:
        cid = await surface.contact(
            "Nour",
            "Saleh",
            identities={Channel.VIBER: "viber-7"},
            last_inbound={Channel.VIBER: surface.now - timedelta(days=2)},
        )
        host, port = redis_url.removeprefix("redis://").split("/")[0].split(":")
        proxy = await RedisProxy(host, int(port)).start()
        proxied = create_redis(proxy.url)
        followups = surface.deps.followups
        outbox = followups.outbox
        followups.outbox = OutboxStore(ContactStore(proxied, surface.deps.keys))
        try:
            proxy.only, proxy.mode = COMMIT_SEND.sha, "lose_answer"
            _, ack, url = await surface.command(ids.FOLLOWUP, "Nour Saleh Hello")
            for _ in range(500):  # the call and redis-py's two retries of it
                if proxy.answers_lost >= 3:
                    break
                await asyncio.sleep(0.01)
            assert proxy.answers_lost >= 3 and ack == {}
            proxy.mode = "pass"
            await until_worked(surface)
        finally:
            followups.outbox = outbox
            await proxied.aclose()
            await proxy.close()

        assert len(await messages_of(surface, cid)) == 1
        [answer] = surface.slack.answers_to(url)
        assert "On its way to *Nour Saleh* on Viber" in answer["text"]
        quota = surface.deps.keys.viber_quota(month_of(surface.now))
        assert await surface.deps.redis.get(quota) == "1"  # the message's, kept


async def test_a_follow_up_whose_commit_answer_was_lost_and_retried_is_answered_as_sent(
    surface: Surface, redis_url: str
) -> None:
    """The commit ran, its answer was lost, and redis-py sent it again: found
    done, it is this very follow-up, answered "on its way" — not "already sent",
    a repeat the agent never made."""
    cid = await surface.contact("Nour", "Saleh", identities={Channel.TELEGRAM: "7303"})
    host, port = redis_url.removeprefix("redis://").split("/")[0].split(":")
    proxy = await RedisProxy(host, int(port)).start()
    proxied = create_redis(proxy.url)
    followups = surface.deps.followups
    outbox = followups.outbox
    followups.outbox = OutboxStore(ContactStore(proxied, surface.deps.keys))
    try:
        proxy.only, proxy.mode = COMMIT_SEND.sha, "lose_one_answer"
        _, _, url = await surface.command(ids.FOLLOWUP, "Nour Saleh Hello")
        await until_worked(surface)
    finally:
        followups.outbox = outbox
        await proxied.aclose()
        await proxy.close()

    assert proxy.answers_lost == 1
    assert len(await messages_of(surface, cid)) == 1
    [answer] = surface.slack.answers_to(url)
    assert "On its way to *Nour Saleh* on Telegram" in answer["text"]


async def test_a_compose_submission_redis_cannot_take_keeps_the_modal_and_says_why(
    surface: Surface, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A view submission has no `response_url`: the answer is the ack itself, an
    error shown in the modal (the draft kept), not Slack's generic failure."""
    monkeypatch.setattr(intake_module, "OUTAGE_RETRY_EVERY", 0.05)
    cid = await surface.contact("Nour", "Saleh", identities={Channel.TELEGRAM: "7305"})
    view = await open_composer(surface, cid)
    host, port = redis_url.removeprefix("redis://").split("/")[0].split(":")
    proxy = await RedisProxy(host, int(port)).start()
    proxied = create_redis(proxy.url)
    surface.deps.intake.store = IntakeStore(proxied, surface.deps.keys)
    try:
        proxy.mode = "refuse"
        status, ack = await surface.submit(view, values_of(view, {ids.COMPOSE_TEXT: "Hello"}))
        assert status == 200
        assert ack["response_action"] == "errors"
        [said] = ack["errors"].values()
        assert "we'll tell you" in said
        proxy.mode = "pass"
        await surface.settle()
    finally:
        await proxied.aclose()
        await proxy.close()


async def test_a_button_redis_cannot_take_is_answered_once_where_the_agent_looks(
    surface: Surface, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The apology goes to the button's response_url and the click is acked 200:
    no failure of Slack's own shown beside it."""
    monkeypatch.setattr(intake_module, "OUTAGE_RETRY_EVERY", 0.05)
    cid = await surface.contact("Nour", "Saleh", identities={Channel.TELEGRAM: "7306"})
    host, port = redis_url.removeprefix("redis://").split("/")[0].split(":")
    proxy = await RedisProxy(host, int(port)).start()
    proxied = create_redis(proxy.url)
    surface.deps.intake.store = IntakeStore(proxied, surface.deps.keys)
    try:
        proxy.mode = "refuse"
        status, _, url = await surface.click(ids.CONTACT_REOPEN, cid)
        assert status == 200
        [answer] = surface.slack.answers_to(url)
        assert "we'll tell you" in answer["text"]
        proxy.mode = "pass"
        await surface.settle()
    finally:
        await proxied.aclose()
        await proxy.close()


async def test_a_submission_dropped_after_every_try_is_told_to_its_agent(
    surface: Surface,
) -> None:
    """A submission whose every adopter died with it is dropped, and its agent
    hears it was not done, never silence."""
    cid = await surface.contact("Sara", "Ahmed", identities={Channel.TELEGRAM: "7107"})
    body = command_body(surface, ids.FOLLOWUP, "Sara Ahmed Your fix is live")
    await left_by_a_dead_process(surface, FOLLOWUP, body)
    entry_id = entry_id_for(slack_key(body))
    keys = surface.deps.keys
    await surface.deps.redis.hset(keys.intake_tries(), entry_id, MAX_TRIES)  # tried enough

    await until_worked(surface)

    assert await messages_of(surface, cid) == []
    [answer] = surface.slack.answers_to(body["response_url"])
    assert "something went wrong" in answer["text"]
