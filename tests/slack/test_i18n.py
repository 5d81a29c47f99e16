"""The message catalogues: English and Arabic say the same things (issue 4, "Language")."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from bot.domain.windows import REASON_KEYS
from bot.slack.i18n import FSI, LANGUAGES, PDI, catalogue, t

ROOT = Path(__file__).resolve().parents[2]


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_is_in_both_catalogues() -> None:
    en, ar = catalogue("en"), catalogue("ar")
    assert sorted(set(en) - set(ar)) == [], "missing in Arabic"
    assert sorted(set(ar) - set(en)) == [], "missing in English"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_take_the_same_parameters(lang: str) -> None:
    en = catalogue("en")
    for key, text in catalogue(lang).items():
        assert placeholders(text) == placeholders(en[key]), key


def test_every_window_reason_is_translated() -> None:
    for lang in LANGUAGES:
        assert set(catalogue(lang)) >= REASON_KEYS, lang


def test_every_key_the_code_names_exists() -> None:
    """Keys written literally in the code (t("…"), QueryError("…"), thread events)."""
    pattern = re.compile(
        r"""(?:\bt|QueryError|event)\(\s*(?:[a-z_.]+,\s*)?"([a-z_]+\.[a-z_.]+)\""""
    )
    named: set[str] = set()
    for path in [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("handlers").rglob("*.py")]:
        named |= set(pattern.findall(path.read_text("utf-8")))
    assert named, "the pattern found nothing"
    missing = sorted(k for k in named if k not in catalogue("en"))
    assert missing == []


def test_arabic_isolates_names_and_numbers() -> None:
    text = t("search.header", "ar", query="Sara", first=1, last=5, filters="x")
    assert f"{FSI}Sara{PDI}" in text and f"{FSI}1{PDI}" in text


def test_a_text_without_parameters_is_the_same_when_asked_again() -> None:
    # Kept after the first time (bot.slack.i18n._PLAIN): the same text, every language.
    key = next(k for k, v in catalogue("en").items() if "{" not in v)
    for lang in ("en", "ar", "xx"):
        first = t(key, lang)
        assert t(key, lang) == first
    assert t(key, "xx") == t(key, "en") == catalogue("en")[key]
    assert t(key, "ar") == (catalogue("ar").get(key) or catalogue("en")[key])
    # A text with parameters is formatted each time, with the parameters given.
    key = next(k for k, v in catalogue("en").items() if placeholders(v) == {"name"})
    assert "Alpha" in t(key, "en", name="Alpha") and "Beta" in t(key, "en", name="Beta")
