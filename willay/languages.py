"""The languages Willay speaks, by BCP-47 code, and the fallback order between them."""

from __future__ import annotations

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "fallbacks", "pick_text"]

DEFAULT_LANGUAGE = "es"

# code -> (name in the language itself, fallback chain after the code itself)
LANGUAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "es": ("Español", ()),
    "quy": ("Runasimi Chanka", ("quz", "es")),
    "quz": ("Runasimi Qusqu", ("quy", "es")),
}


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
