"""The languages Willay speaks, by BCP-47 code, and the fallback order between them.

The one list: every other place (menus, flows, the app's picker and its schema, the
recommender's features) derives from it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "REQUIRED_LANGUAGES",
    "Language",
    "fallbacks",
    "pick_text",
]

DEFAULT_LANGUAGE = "es"

# code -> (name in the language itself, fallback chain after the code itself)
LANGUAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "es": ("Español", ()),
    "quy": ("Runasimi Chanka", ("quz", "es")),
    "quz": ("Runasimi Qusqu", ("quy", "es")),
}

# every menu, call flow and prompt is written in these; the others fall back to them
REQUIRED_LANGUAGES = (DEFAULT_LANGUAGE, "quy")


def _spoken(code: str) -> str:
    if code not in LANGUAGES:
        raise ValueError(f"not a language Willay speaks; one of {', '.join(LANGUAGES)}")
    return code


Language = Annotated[
    str, AfterValidator(_spoken), WithJsonSchema({"type": "string", "enum": list(LANGUAGES)})
]


def fallbacks(lang: str) -> tuple[str, ...]:
    """`lang` followed by the languages to try when a text is missing in it."""
    _, chain = LANGUAGES.get(lang, ("", ()))
    return (lang, *chain, DEFAULT_LANGUAGE) if lang != DEFAULT_LANGUAGE else (lang,)


def pick_text(texts: dict[str, str], lang: str) -> tuple[str, str]:
    """The text for `lang` from a per-language mapping, with the language actually used."""
    for code in fallbacks(lang):
        if texts.get(code):
            return texts[code], code
    raise KeyError(f"no text for {lang!r} nor its fallbacks in {sorted(texts)}")
