"""The edit-contact modal's submission, and its merge confirmation's.

Field errors (an invalid phone or e-mail) come back in the ack. A phone or
e-mail that belongs to another contact turns the modal into the question
"merge the two?" (`response_action: update`); confirming merges the other
contact into this one, then saves the edit. The thread root shows the new
details (re-indexed by the store in the same commit).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.services.contact_edit import ContactEditor, EditOutcome, EditResult
from bot.slack import ids
from bot.slack.background import Background
from bot.slack.blocks.contact_edit import (
    BLOCKS,
    MergeRequest,
    conflict_error,
    merge_view,
    notice_view,
    read_edit,
    read_merge,
)
from bot.slack.i18n import t
from handlers.payloads import ViewSubmission, parse


def register(app: AsyncApp, *, editor: ContactEditor, background: Background) -> None:
    async def answer(ack: AsyncAck, result: EditResult, request: MergeRequest, lang: str) -> None:
        """Ack a submission with what its result needs: errors, the question, or done."""
        if result.outcome is EditOutcome.INVALID:
            errors = {BLOCKS[name]: t(key, lang) for name, key in result.errors.items()}
            await ack(response_action="errors", errors=errors)
        elif result.outcome is EditOutcome.CONFLICT and result.other is not None:
            field = BLOCKS["phone"] if request.edit.phone.strip() else BLOCKS["email"]
            text = conflict_error(result.other, result.channels, lang)
            await ack(response_action="errors", errors={field: text})
        elif result.outcome is EditOutcome.NEEDS_MERGE:
            assert result.contact is not None and result.other is not None
            question = MergeRequest(result.contact.id, result.other.id, request.edit)
            view = merge_view(question, result.contact, result.other, lang)
            await ack(response_action="update", view=view)
        else:
            await ack()
            if result.contact is not None and result.outcome is EditOutcome.SAVED:
                # The thread root names the contact: show the new details there.
                background.run(editor.show_saved(result.contact.id))

    async def submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        lang = str(context["lang"])
        contact_id, edit = read_edit(parse(ViewSubmission, body).view)
        result = await editor.edit(contact_id, edit)
        await answer(ack, result, MergeRequest(contact_id, "", edit), lang)

    async def confirmed(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        lang = str(context["lang"])
        request = read_merge(parse(ViewSubmission, body).view)
        result = await editor.merge_and_edit(request.contact_id, request.other_id, request.edit)
        if result.outcome is EditOutcome.CONFLICT and result.other is not None:
            # The question has no fields: the answer replaces it (rare: changed meanwhile).
            text = conflict_error(result.other, result.channels, lang)
            await ack(response_action="update", view=notice_view(text, lang))
            return
        if result.outcome is EditOutcome.GONE:
            await ack(response_action="update", view=notice_view(t("edit.gone", lang), lang))
            return
        await answer(ack, result, request, lang)

    app.view(ids.EDIT_VIEW)(submitted)
    app.view(ids.MERGE_VIEW)(confirmed)
