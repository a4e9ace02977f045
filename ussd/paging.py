"""Cutting a screen into USSD pages that fit the budget, counted in GSM-7 septets.

A screen is a text, a list of option lines and navigation lines. Text breaks between words (its
line breaks are kept); option lines are never split and stay together when they fit on one page;
every page but the last ends with the "more" line, the last with the navigation lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from willay.gsm7 import septets, to_gsm7

__all__ = ["Page", "PageLayout", "paginate"]


@dataclass(frozen=True)
class PageLayout:
    budget: int
    more_line: str
    max_options: int = 7


@dataclass(frozen=True)
class Page:
    """One screen's worth: the text lines, then options and navigation (the tail)."""

    text: tuple[str, ...]
    tail: tuple[str, ...]

    def __str__(self) -> str:
        return "\n".join(self.text + self.tail)

    def with_notice(self, notice: str, budget: int) -> str:
        """The page under a one-line notice; its text, then the notice, give way to fit."""
        notice = to_gsm7(notice)
        for lines in ((notice, *self.text, *self.tail), (notice, *self.tail)):
            shown = "\n".join(lines)
            if septets(shown) <= budget:
                return shown
        return str(self)


def _size(lines: list[str]) -> int:
    return septets("\n".join(lines))


def _take_text(lines: list[list[str]], room: int) -> list[str]:
    """Pop the words that fit in `room` septets from `lines` (lists of words); the lines taken."""
    taken: list[str] = []
    while lines:
        words = lines[0]
        used = _size(taken) + (1 if taken else 0)
        current: list[str] = []
        for word in list(words):
            candidate = " ".join([*current, word])
            if used + septets(candidate) > room:
                break
            current.append(words.pop(0))
        if not current and not taken:  # one word longer than a page: cut it
            cut = room - used
            current, words[0] = [words[0][:cut]], words[0][cut:]
        if current:
            taken.append(" ".join(current))
        if words:
            return taken
        lines.pop(0)
    return taken


def paginate(
    text: str, *, options: list[str], nav_choices: list[list[str]], layout: PageLayout
) -> list[Page]:
    """The pages of a screen, each within `layout.budget` septets once transliterated.

    `nav_choices` are navigation footers from the fullest to the barest: the last page shows the
    fullest one that fits beside its content, so navigation never pushes content to a new page.
    """
    lines = [line.split() for line in to_gsm7(text).splitlines() if line.strip()]
    items = [to_gsm7(o) for o in options]
    footers = [[to_gsm7(n) for n in nav] for nav in [*nav_choices, []]]
    more = to_gsm7(layout.more_line)
    room = layout.budget - septets(more) - 1
    pages: list[Page] = []
    while True:
        rest = [" ".join(words) for words in lines]
        if _size(rest + items) <= layout.budget and len(items) <= layout.max_options:
            nav = next(f for f in footers if _size(rest + items + f) <= layout.budget)
            pages.append(Page(tuple(rest), tuple(items + nav)))
            return pages
        body = _take_text(lines, room)
        text_lines = len(body)
        if not lines:
            fits_alone = _size(items) <= room and len(items) <= layout.max_options
            if not (fits_alone and body and _size([*body, *items]) > room):
                while (
                    items and len(body) <= layout.max_options and _size([*body, items[0]]) <= room
                ):
                    body.append(items.pop(0))
        if not body:
            raise ValueError(f"a line does not fit a {layout.budget}-septet page: {items[0]!r}")
        pages.append(Page(tuple(body[:text_lines]), (*body[text_lines:], more)))
