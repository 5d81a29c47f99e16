"""Block Kit builders, one module per surface, built with slack-sdk's models.

Texts come from the catalogue (`bot.slack.i18n`); `parts` holds the small
pieces they share. Builders are pure: how a view or message is sent is the
caller's business.
"""
