"""How Willay's processes log: the command line and each `willay serve` worker alike."""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]


def configure_logging(*, verbose: bool = False) -> None:
    """Timestamped lines with level and logger, INFO and up (DEBUG when `verbose`)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
