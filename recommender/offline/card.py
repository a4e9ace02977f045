"""Model cards: what a model was trained on, how it scores, its size and signature.

The JSON card beside each model is what the runtime reads (version, feature layout, SHA-256);
a Markdown rendering beside it is for people. Cards are replaced atomically, so a registry
watching the folder never reads half a card.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from recommender.runtime import card_path

__all__ = ["read_card", "render_markdown", "update_card", "write_atomically", "write_card"]


def write_atomically(path: Path, content: bytes) -> None:
    """Write `content` to a temporary file beside `path`, then rename it over `path`."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(content)
    os.replace(partial, path)


def read_card(model_path: Path) -> dict[str, Any]:
    """The JSON card of a model."""
    card: dict[str, Any] = json.loads(card_path(model_path).read_text(encoding="utf-8"))
    return card


def write_card(model_path: Path, card: dict[str, Any]) -> None:
    """Write the JSON card and its Markdown rendering beside the model."""
    text = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    write_atomically(card_path(model_path), text.encode())
    write_atomically(model_path.with_suffix(".md"), render_markdown(card).encode())


def update_card(model_path: Path, *, section: str, figures: dict[str, Any]) -> None:
    """Replace one section of a model's card (evaluation, bench) and re-render it."""
    card = read_card(model_path)
    card[section] = figures
    write_card(model_path, card)


def _rows(data: dict[str, Any], indent: str = "") -> list[str]:
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"{indent}- **{key}**:")
            lines += _rows(value, indent + "  ")
        elif isinstance(value, list) and len(value) > 12:
            lines.append(f"{indent}- **{key}**: {len(value)} items: {', '.join(map(str, value))}")
        else:
            lines.append(f"{indent}- **{key}**: {value}")
    return lines


def render_markdown(card: dict[str, Any]) -> str:
    """The card for people: one section per part of the JSON card."""
    head = [
        f"# Model card: {card.get('version')}",
        "",
        "Generated from the JSON card beside this file by `willay train` (and updated by",
        "`willay evaluate --card` and `bench/recommender.py --card`); edit neither by hand.",
        "",
    ]
    body = []
    for section, value in card.items():
        if isinstance(value, dict):
            body += [f"## {section}", "", *_rows(value), ""]
        else:
            head.append(f"- **{section}**: {value}")
    return "\n".join([*head, "", *body])
