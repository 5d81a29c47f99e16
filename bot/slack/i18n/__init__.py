"""Message catalogues: every text the app shows, in English and Arabic.

`t(key, lang, **params)` formats a catalogue entry. Parameters that are names,
numbers or channel names are wrapped in Unicode first-strong isolates in
Arabic, so mixed-direction text reads correctly.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

LANGUAGES = ("en", "ar")
FSI, PDI = "\u2068", "\u2069"


@cache
def catalogue(lang: str) -> dict[str, str]:
    text = resources.files("bot.slack.i18n").joinpath(f"{lang}.json").read_text("utf-8")
    entries: dict[str, str] = json.loads(text)
    return entries


def t(key: str, lang: str = "en", **params: object) -> str:
    """The text for `key` in `lang` (English when the language is unknown)."""
    entries = catalogue(lang if lang in LANGUAGES else "en")
    template = entries.get(key) or catalogue("en")[key]
    if lang == "ar":
        params = {k: f"{FSI}{v}{PDI}" for k, v in params.items()}
    return template.format(**params)
