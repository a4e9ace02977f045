"""The serving side of the recommender stands without its offline side: a web process loads
neither `recommender.offline` (simulator, training, evaluation, ...) nor TensorFlow."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

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
    script = (
        f"import sys, json, shell.app, recommender, {modules}\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert "recommender.model_picker" in loaded  # the serving side did load
    assert [m for m in loaded if m.startswith(OFFLINE)] == []
    assert [m for m in loaded if m.split(".")[0] in ("tensorflow", "keras")] == []
