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
from bot.slack.reopen_blocks import left_with
from handlers.commands.reopen import Deliver, deliverer, reopen_and_answer


def _value(body: dict[str, Any]) -> str:
    return str(body["actions"][0].get("value") or "")


def _agent(body: dict[str, Any]) -> str:
    return str(body["user"]["id"])


def _from_home(body: dict[str, Any]) -> bool:
    return (body.get("view") or {}).get("type") == "home"


def register(app: AsyncApp, deps: SlackDeps) -> None:
    def on_error(deliver: Deliver, lang: str) -> Any:
        async def apologise(_: BaseException) -> None:
            text, blocks = text_message(t("error.sorry", lang))
            await deliver(text, blocks, False)

        return apologise

    async def reopen(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang, deliver = str(context["lang"]), deliverer(deps, body)
        deps.background.run(
            reopen_and_answer(
                deps, _value(body), _agent(body), lang, deliver, quiet_success=_from_home(body)
            ),
            on_error=on_error(deliver, lang),
        )

    async def choose(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang, deliver = str(context["lang"]), deliverer(deps, body)
        contact_id = str(json.loads(_value(body))["c"])
        deps.background.run(
            reopen_and_answer(deps, contact_id, _agent(body), lang, deliver, replace=True),
            on_error=on_error(deliver, lang),
        )

    async def take_over(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        lang, deliver = str(context["lang"]), deliverer(deps, body)
        deps.background.run(
            reopen_and_answer(
                deps,
                _value(body),
                _agent(body),
                lang,
                deliver,
                confirm_takeover=True,
                replace=True,
            ),
            on_error=on_error(deliver, lang),
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

    app.action(ids.CONTACT_REOPEN)(reopen)
    app.action(ids.CONTACT_CHOOSE_REOPEN)(choose)
    app.action(ids.REOPEN_TAKEOVER)(take_over)
    app.action(ids.REOPEN_CANCEL)(cancel)
