"""The GSM 03.38 default alphabet: septet counts and transliteration.

A USSD page or SMS holding one character outside GSM-7 falls back to UCS-2 and carries less than
half the text, so every user-facing string goes through `to_gsm7` before it is counted or sent.
"""

from __future__ import annotations

import unicodedata

__all__ = ["is_gsm7", "septets", "to_gsm7"]

BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = frozenset("\f^{}\\[~]|€")

# Look-alikes mapped before accent stripping; anything else unknown becomes "?".
SUBSTITUTES = {
    "\u2018": "'",
    "\u2019": "'",
    "\u02bc": "'",
    "\u00b4": "'",
    "`": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u00b0": " grados",
    "\u00ba": "o",
    "\u00aa": "a",
    "\u00a0": " ",
    "\t": " ",
}


def is_gsm7(text: str) -> bool:
    """True when every character of `text` is in the GSM-7 basic or extension table."""
    return all(c in BASIC or c in EXTENSION for c in text)


def septets(text: str) -> int:
    """Septets `text` takes in GSM-7: extension characters count twice."""
    return len(text) + sum(text.count(c) for c in EXTENSION)


def _transliterate(char: str) -> str:
    if char in BASIC or char in EXTENSION:
        return char
    if char in SUBSTITUTES:
        return SUBSTITUTES[char]
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base and all(c in BASIC for c in base):
        return base
    return "?"


def to_gsm7(text: str) -> str:
    """`text` with every character outside GSM-7 replaced by its closest GSM-7 spelling."""
    return "".join(_transliterate(c) for c in text)
