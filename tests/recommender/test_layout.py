"""The serving side of the recommender stands without its offline side: a web process loads
neither `recommender.offline` (simulator, training, evaluation, ...) nor TensorFlow."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.test_architecture import modules_after

ROOT = Path(__file__).resolve().parents[2]
SERVING = sorted(p for p in (ROOT / "recommender").glob("*.py"))
OFFLINE = "recommender.offline"


def test_the_serving_modules_never_import_the_offline_side() -> None:
    found = []
    for path in SERVING:
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [f"{path.name}: {n}" for n in names if n.startswith(OFFLINE)]
    assert found == []


def test_the_app_in_a_fresh_interpreter_loads_no_offline_module_nor_tensorflow() -> None:
    modules = ", ".join(f"recommender.{p.stem}" for p in SERVING if p.stem != "__init__")
    loaded = modules_after(f"import shell.app, recommender, {modules}")
    assert "recommender.model_picker" in loaded  # the serving side did load
    assert [m for m in loaded if m.startswith(OFFLINE)] == []
    assert [m for m in loaded if m.split(".")[0] in ("tensorflow", "keras")] == []
