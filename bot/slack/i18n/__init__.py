"""Message catalogues: every text the app shows, in English and Arabic.

Each language is a folder of JSON files, one per area of the app
(`en/thread.json`, `en/compose.json`, …), merged into one catalogue; a key
defined twice is an error. `t(key, lang, **params)` formats an entry.
Parameters (names, numbers, channel names) are wrapped in Unicode first-strong
isolates in Arabic, so mixed-direction text reads correctly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources

from bot.domain.languages import LANGUAGES as LANGUAGES  # re-exported: the catalogues are in these

FSI, PDI = "\u2068", "\u2069"
#: Language names as each speaker writes them (the App Home picker).
LANGUAGE_NAMES: Mapping[str, str] = {"en": "English", "ar": "العربية"}


class CatalogueError(ValueError):
    """A catalogue file is malformed or defines a key twice."""


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Every entry of one language, from all its area files."""
    folder = resources.files("bot.slack.i18n").joinpath(lang)
    entries: dict[str, str] = {}
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if not item.name.endswith(".json"):
            continue
        area: dict[str, str] = json.loads(item.read_text("utf-8"))
        for key, text in area.items():
            if key in entries:
                raise CatalogueError(f"{lang}/{item.name}: {key} is defined twice")
            if not isinstance(text, str):
                raise CatalogueError(f"{lang}/{item.name}: {key} is not a string")
            entries[key] = text
    return entries


def language_or_default(lang: str | None, default: str = "en") -> str:
    """`lang` when we speak it, else `default`."""
    return lang if lang in LANGUAGES else default


#: Texts without parameters, formatted once: (key, language) -> text. Bounded by
#: the catalogues. A label asked again costs a dict lookup, not a `str.format`
#: of its template (about a dozen labels per search result or compose modal).
_PLAIN: dict[tuple[str, str], str] = {}


def t(key: str, lang: str = "en", **params: object) -> str:
    """The text for `key` in `lang` (English when the language is unknown)."""
    if not params:
        plain = _PLAIN.get((key, lang))
        if plain is not None:
            return plain
    entries = catalogue(language_or_default(lang))
    template = entries.get(key) or catalogue("en")[key]
    if lang == "ar":
        params = {k: f"{FSI}{v}{PDI}" for k, v in params.items()}
    text = template.format(**params)
    if not params and lang in LANGUAGES:
        _PLAIN[key, lang] = text
    return text
