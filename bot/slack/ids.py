"""Every Slack identifier the app answers to, in one place.

Command names, the message shortcut's callback id, `action_id`s and view
`callback_id`s. The manifest (`manifests/`) names the same commands and
shortcut; a test checks that each has a listener, and the reverse.
"""

from __future__ import annotations

from typing import Final

# --- slash commands ----------------------------------------------------------------
FIND_CONTACT: Final = "/find-contact"
REOPEN: Final = "/reopen"
FOLLOWUP: Final = "/followup"
COMMANDS: Final = (FIND_CONTACT, REOPEN, FOLLOWUP)

# --- message shortcut ("Follow up with this customer") ---------------------------
FOLLOWUP_SHORTCUT: Final = "followup_from_message"
SHORTCUTS: Final = (FOLLOWUP_SHORTCUT,)

# --- buttons on a contact (search results, /reopen answers, alerts, App Home) ----
# Their value is the contact id.
CONTACT_REOPEN: Final = "contact_reopen"
CONTACT_FOLLOWUP: Final = "contact_followup"
CONTACT_OPEN_THREAD: Final = "contact_open_thread"
CONTACT_CLOSE: Final = "contact_close"
# An ambiguous /reopen or /followup: "this one" (value: contact id, and the
# one-line message of a /followup; see contact_blocks.choices_message).
CONTACT_CHOOSE_REOPEN: Final = "contact_choose_reopen"
CONTACT_CHOOSE_FOLLOWUP: Final = "contact_choose_followup"
CONTACT_EDIT: Final = "contact_edit"  # opens the edit-contact modal (also on thread roots)
SEARCH_MORE: Final = "search_more"  # value: the next page, packed (see bot.slack.search)
REOPEN_TAKEOVER: Final = "reopen_takeover"  # confirm taking over another agent's conversation

# --- the conversation thread ------------------------------------------------------
THREAD_FOLLOWUP: Final = "thread_followup"
THREAD_REOPEN: Final = "thread_reopen"
THREAD_CLOSE: Final = "thread_close"
FOLLOWUP_ANOTHER_WAY: Final = "followup_another_way"  # on a ❗ or failed entry
USE_TEMPLATE: Final = "use_template"  # after a refused one-line /followup

# --- inside the compose modal (dispatch_action inputs) ---------------------------
COMPOSE_CHANNEL: Final = "compose_channel"
COMPOSE_FORM: Final = "compose_form"
COMPOSE_TEMPLATE: Final = "compose_template"
COMPOSE_TEMPLATE_LANGUAGE: Final = "compose_template_language"  # the template's languages
COMPOSE_TAG: Final = "compose_tag"
COMPOSE_TEXT: Final = "compose_text"
COMPOSE_PARAM: Final = "compose_param"  # + the parameter number: compose_param_1, …

# --- search modal ---------------------------------------------------------------
SEARCH_QUERY: Final = "search_query"
SEARCH_SCOPE: Final = "search_scope"
SEARCH_STATUS: Final = "search_status"
SEARCH_SORT: Final = "search_sort"

# --- App Home -------------------------------------------------------------------
HOME_LANGUAGE: Final = "home_language"
HOME_REFRESH: Final = "home_refresh"

# --- alerts (direct messages) ------------------------------------------------------
# Alerts carry the contact buttons above.

# --- views (callback_id) ------------------------------------------------------------
SEARCH_VIEW: Final = "search_view"
EDIT_VIEW: Final = "edit_view"  # the edit-contact modal
MERGE_VIEW: Final = "merge_view"  # its "merge the two contacts?" confirmation
EDIT_FIRST_NAME: Final = "edit_first_name"
EDIT_LAST_NAME: Final = "edit_last_name"
EDIT_PHONE: Final = "edit_phone"
EDIT_EMAIL: Final = "edit_email"
EDIT_TIME_ZONE: Final = "edit_time_zone"
COMPOSE_VIEW: Final = "compose_view"
CLOSE_VIEW: Final = "close_view"
CLOSE_REASON: Final = "close_reason"  # input in the close modal
TAKEOVER_CONFIRM: Final = "takeover_confirm"  # the compose modal's "take over" checkbox

#: Listeners for these are registered by pattern (compose_param_1, …).
PATTERN_ACTIONS: Final = (COMPOSE_PARAM,)

# --- /reopen, App Home and alerts (home helper) -------------------------------------
REOPEN_CANCEL: Final = "reopen_cancel"  # leave the conversation with its agent (value: contact id)
# A link button to a conversation's thread (App Home, alerts): Slack opens the
# link and still sends the click, which is only acknowledged.
OPEN_THREAD_LINK: Final = "open_thread_link"

# --- /followup, the compose modal and the thread (compose helper) ------------------
# A button that sends a one-line follow-up: on another channel after a refusal, or
# taking the conversation over (value: JSON, see bot.slack.blocks.answers.LineSend).
FOLLOWUP_LINE_SEND: Final = "followup_line_send"
COMPOSE_PREVIEW: Final = "compose_preview"  # the template preview, refreshed

# --- follow-ups in time (value: the scheduled item's id) ---------------------------
# The compose modal's time inputs (read from its state).
COMPOSE_WHEN: Final = "compose_when"
COMPOSE_AT: Final = "compose_at"
COMPOSE_REMIND: Final = "compose_remind"
COMPOSE_FILES: Final = "compose_files"
SCHEDULE_SEND_NOW: Final = "schedule_send_now"
SCHEDULE_EDIT: Final = "schedule_edit"
SCHEDULE_CANCEL: Final = "schedule_cancel"
SCHEDULE_EDIT_VIEW: Final = "schedule_edit_view"
SCHEDULE_EDIT_AT: Final = "schedule_edit_at"
SCHEDULE_EDIT_TEXT: Final = "schedule_edit_text"
# "Remind me" on the thread root (value: contact id) and its modal.
THREAD_REMIND: Final = "thread_remind"
# The close modal: keep or cancel what is scheduled for the customer (read from state).
CLOSE_KEEP: Final = "close_keep"
REMIND_VIEW: Final = "remind_view"
REMIND_AFTER: Final = "remind_after"
REMIND_NOTE: Final = "remind_note"
# The reminder's direct message: Follow up and Close are the thread root's own
# buttons (THREAD_FOLLOWUP, THREAD_CLOSE); Snooze (value: the contact id and
# "|<duration>").
REMIND_SNOOZE_HOUR: Final = "remind_snooze_1h"
REMIND_SNOOZE_DAY: Final = "remind_snooze_1d"
REMIND_SNOOZE_DAYS: Final = "remind_snooze_2d"
REMIND_SNOOZES: Final = (REMIND_SNOOZE_HOUR, REMIND_SNOOZE_DAY, REMIND_SNOOZE_DAYS)
