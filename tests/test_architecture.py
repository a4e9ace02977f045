"""Imports point one way, every package says what it exports, and serving loads no build tools."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [
    "willay",
    "dialogue",
    "shell",
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
    "shell": set(PACKAGES),  # the composition root wires every package
}


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


def modules_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds once it has run `statement`."""
    code = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WILLAY_")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_serving_audio_loads_nothing_of_the_build_side() -> None:
    loaded = modules_after("import audio_cache.routes")
    assert "audio_cache.library" in loaded
    build_side = {f"audio_cache.{name}" for name in ("build", "render", "encode", "tts")}
    assert loaded & (build_side | {"pyttsx3", "pydub"}) == set()


def test_the_web_app_loads_neither_tensorflow_nor_the_tts_engine() -> None:
    loaded = modules_after(
        "from shell.app import create_app\n"
        "from willay.config import Settings\n"
        "create_app(Settings())"
    )
    assert {"shell.app", "shell.lifespan", "studio"} <= loaded
    assert loaded & {"tensorflow", "pyttsx3"} == set()


def test_the_walk_sees_every_form_of_import(tmp_path: Path) -> None:
    module = tmp_path / "kernel_module.py"
    module.write_text(
        "import ivr.flow\n"
        "from ussd.engine import UssdEngine\n"
        "from . import sibling\n"
        "def late():\n"
        "    from shell import app\n"
    )
    assert imported_packages(module) == {"ivr", "ussd", "shell"}
