"""Cutting a screen into USSD pages that fit the budget, counted in GSM-7 septets.

A screen is a text, a list of option lines and the navigation lines. Text breaks between words;
an option line is never split; every page but the last ends with the "more" line.
"""

from __future__ import annotations

from dataclasses import dataclass

from willay.gsm7 import septets, to_gsm7

__all__ = ["PageLayout", "paginate"]


@dataclass(frozen=True)
class PageLayout:
    budget: int
    more_line: str
    max_options: int = 7


def _size(lines: list[str]) -> int:
    return septets("\n".join(lines))


def _words_that_fit(words: list[str], room: int) -> int:
    """How many leading words fit in `room` septets on one line (at least one, hard-cut)."""
    used = -1
    for count, word in enumerate(words):
        used += 1 + septets(word)
        if used > room:
            return count
    return len(words)


def _split_word(word: str, room: int) -> tuple[str, str]:
    cut = max(room, 1)
    while septets(word[:cut]) > room and cut > 1:
        cut -= 1
    return word[:cut], word[cut:]


def paginate(text: str, options: list[str], nav: list[str], layout: PageLayout) -> list[str]:
    """The pages of a screen, each within `layout.budget` septets once transliterated."""
    words = to_gsm7(text).split()
    items = [to_gsm7(o) for o in options]
    nav = [to_gsm7(n) for n in nav]
    more = to_gsm7(layout.more_line)
    pages: list[str] = []
    while True:
        last_try = [" ".join(words), *items] if words else list(items)
        if _size(last_try + nav) <= layout.budget and len(items) <= layout.max_options:
            pages.append("\n".join(last_try + nav))
            return pages
        footer = [more, *nav]
        room = layout.budget - _size(footer) - 1
        body: list[str] = []
        if words:
            count = _words_that_fit(words, room)
            if count == 0:
                head, tail = _split_word(words[0], room)
                body.append(head)
                words = [tail, *words[1:]]
            else:
                body.append(" ".join(words[:count]))
                words = words[count:]
        placed = 0
        while not words and items and placed < layout.max_options:
            if _size([*body, items[0]]) > room:
                break
            body.append(items.pop(0))
            placed += 1
        if not body:
            raise ValueError(f"a line does not fit a {layout.budget}-septet page: {items[0]!r}")
        pages.append("\n".join(body + footer))
