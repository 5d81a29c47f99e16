"""Reopen buttons: *Reopen* (search results, App Home), *This one* (an ambiguous
`/reopen`), and the takeover question's *Take over* / *Cancel*."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.slack import ids
from bot.slack.app import SlackDeps
from bot.slack.contact_blocks import text_message
from bot.slack.i18n import t
from bot.slack.intake import durable
from bot.slack.reopen_blocks import left_with
from handlers.commands.reopen import Deliver, apology, deliverer, reopen_and_answer


def _value(body: dict[str, Any]) -> str:
    return str(body["actions"][0].get("value") or "")


def _agent(body: dict[str, Any]) -> str:
    return str(body["user"]["id"])


def _from_home(body: dict[str, Any]) -> bool:
    return (body.get("view") or {}).get("type") == "home"


#: Intake kinds (bot.slack.intake) of the buttons that reopen.
KIND_REOPEN = "action.reopen"
KIND_CHOOSE = "action.reopen.choose"
KIND_TAKE_OVER = "action.reopen.take_over"


def register(app: AsyncApp, deps: SlackDeps) -> None:
    def on_error(deliver: Deliver, lang: str) -> Any:
        return apology(deliver, lang)

    async def reopen(body: dict[str, Any], lang: str) -> None:
        await reopen_and_answer(
            deps,
            _value(body),
            _agent(body),
            lang,
            deliverer(deps, body),
            quiet_success=_from_home(body),
        )

    async def choose(body: dict[str, Any], lang: str) -> None:
        contact_id = str(json.loads(_value(body))["c"])
        await reopen_and_answer(
            deps, contact_id, _agent(body), lang, deliverer(deps, body), replace=True
        )

    async def take_over(body: dict[str, Any], lang: str) -> None:
        await reopen_and_answer(
            deps,
            _value(body),
            _agent(body),
            lang,
            deliverer(deps, body),
            confirm_takeover=True,
            replace=True,
        )

    async def cancel(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang, deliver = str(context["lang"]), deliverer(deps, body)

        async def answer() -> None:
            contact = await deps.contacts.get(_value(body))
            if contact is None:
                text, blocks = text_message(t("reopen.gone", lang))
            else:
                name = contact.display_name
                text, blocks = text_message(left_with(name, contact.conversation.assignee, lang))
            await deliver(text, blocks, True)

        deps.background.run(answer(), on_error=on_error(deliver, lang))

    for kind, work in ((KIND_REOPEN, reopen), (KIND_CHOOSE, choose), (KIND_TAKE_OVER, take_over)):
        deps.intake.on(kind, work, lambda body, lang: apology(deliverer(deps, body), lang))
    app.action(ids.CONTACT_REOPEN)(durable(deps.intake, KIND_REOPEN))
    app.action(ids.CONTACT_CHOOSE_REOPEN)(durable(deps.intake, KIND_CHOOSE))
    app.action(ids.REOPEN_TAKEOVER)(durable(deps.intake, KIND_TAKE_OVER))
    app.action(ids.REOPEN_CANCEL)(cancel)
