"""SMS text: GSM-7 only, one segment when it fits, split the way the network splits it otherwise.

One SMS carries 160 GSM-7 septets. A longer text travels as concatenated parts of 153 septets
(the other 7 hold the header that joins them on the phone), and an extension character (two
septets, such as `€`) is never cut between two parts. Every text goes through `to_gsm7` first,
so Spanish and Quechua accents never switch a message to UCS-2, which holds only 70 characters.
"""

from __future__ import annotations

from dataclasses import dataclass

from sms.texts import ALERT, BRAND, SOURCE, STOP, STOP_SHORT, STOPPED
from willay.alerts import Alert
from willay.catalog import Tip
from willay.gsm7 import septets, to_gsm7
from willay.languages import pick_text

__all__ = [
    "PART_SEPTETS",
    "SINGLE_SEPTETS",
    "SmsText",
    "compose_alert",
    "compose_stopped",
    "compose_tip",
    "split_parts",
]

SINGLE_SEPTETS = 160
PART_SEPTETS = 153


def split_parts(text: str) -> list[str]:
    """`text` (GSM-7) in the parts the network carries it in: one if it fits, else 153 each."""
    if septets(text) <= SINGLE_SEPTETS:
        return [text]
    parts, current, used = [], "", 0
    for char in text:
        cost = septets(char)
        if used + cost > PART_SEPTETS:
            parts.append(current)
            current, used = "", 0
        current += char
        used += cost
    parts.append(current)
    return parts


@dataclass(frozen=True)
class SmsText:
    """A message in GSM-7 and the parts (segments) it takes."""

    text: str
    parts: tuple[str, ...]

    @classmethod
    def of(cls, raw: str) -> SmsText:
        """The message for `raw`, transliterated to GSM-7."""
        text = to_gsm7(raw)
        return cls(text=text, parts=tuple(split_parts(text)))

    @property
    def septets(self) -> int:
        """The text's length in GSM-7 septets."""
        return septets(self.text)

    @property
    def segments(self) -> int:
        """How many SMS the text takes."""
        return len(self.parts)


def compose_tip(tip: Tip, lang: str) -> SmsText:
    """A tip with its source, ending with how to stop, in the fewest segments (fullest on a tie)."""
    text = tip.text_for(lang)[0]
    source = f"{pick_text(SOURCE, lang)[0]} {tip.source.short}"
    stop, stop_short = pick_text(STOP, lang)[0], pick_text(STOP_SHORT, lang)[0]
    variants = [
        SmsText.of(f"{BRAND} {text} {source}\n{stop}"),
        SmsText.of(f"{text} {source}\n{stop}"),
        SmsText.of(f"{text} ({tip.source.short})\n{stop_short}"),
    ]
    return min(variants, key=lambda message: message.segments)


def compose_alert(alert: Alert, lang: str) -> SmsText:
    """A regional alert, ending with how to stop, in the fewest segments (fullest on a tie)."""
    label, text = pick_text(ALERT, lang)[0], alert.text_for(lang)[0]
    stop, stop_short = pick_text(STOP, lang)[0], pick_text(STOP_SHORT, lang)[0]
    variants = [
        SmsText.of(f"{BRAND} {label} {text}\n{stop}"),
        SmsText.of(f"{label} {text}\n{stop_short}"),
    ]
    return min(variants, key=lambda message: message.segments)


def compose_stopped(lang: str, *, short_code: str) -> SmsText:
    """The confirmation sent to a person who texted BAJA, STOP or SAQIY."""
    return SmsText.of(pick_text(STOPPED, lang)[0].format(code=short_code))
