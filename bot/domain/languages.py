"""The languages the app speaks to agents and in threads (each has a catalogue in
`bot/slack/i18n/`)."""

LANGUAGES = ("en", "ar")
