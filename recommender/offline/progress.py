"""How long work (training, evaluation) reports progress; the CLI shows it with rich."""

from __future__ import annotations

from typing import Protocol

__all__ = ["SILENT", "Steps"]


class Steps(Protocol):
    """Stages of known or unknown length, advanced step by step, with log lines."""

    def stage(self, description: str, total: int | None = None) -> None: ...

    def advance(self, amount: int = 1) -> None: ...

    def log(self, message: str) -> None: ...


class _Silent:
    def stage(self, description: str, total: int | None = None) -> None:
        """Nothing shown."""

    def advance(self, amount: int = 1) -> None:
        """Nothing shown."""

    def log(self, message: str) -> None:
        """Nothing shown."""


SILENT: Steps = _Silent()
