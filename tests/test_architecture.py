"""Imports point one way, and every package says what it exports."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [
    "willay",
    "dialogue",
    "ussd",
    "recommender",
    "sms",
    "audio_cache",
    "ivr",
    "telemetry",
    "studio",
    "alerts",
    "app",
]
# package -> packages it may import (besides itself)
ALLOWED = {
    "willay": set(),
    "recommender": {"willay"},
    "dialogue": {"willay", "recommender"},
    "ussd": {"willay", "recommender", "dialogue"},
    "sms": {"willay", "recommender"},
    "audio_cache": {"willay"},
    "telemetry": {"willay"},
    "ivr": {"willay", "recommender", "audio_cache", "dialogue"},
    "studio": {"willay", "audio_cache", "ussd", "sms", "ivr"},
    "alerts": {"willay", "telemetry"},
    "app": {"willay", "recommender", "audio_cache"},
}
SHELL = {"willay/app.py", "willay/cli.py"}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package: str) -> None:
    backward = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in SHELL:
            continue
        for target in imported_packages(path) - {package} - ALLOWED[package]:
            backward.append(f"{relative} imports {target}")
    assert backward == []


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_and_complete(package: str) -> None:
    module = importlib.import_module(package)
    exported = module.__all__
    assert list(exported) == sorted(exported)
    for name in exported:
        assert hasattr(module, name), f"{package}.__all__ names missing {name}"
