"""The models volume: every replica and the weekly SMS job read one folder, so a `willay model
pin` reaches them all; a new image adds its versions to it without undoing a pin."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
SHIPPED = "/app/recommender/models"


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def kubernetes(name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((KUBERNETES / name).read_text()))


def pod(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]
    return spec.get("jobTemplate", {}).get("spec", spec)["template"]["spec"]


def mounted_models(pod_spec: dict[str, Any], container: dict[str, Any]) -> str:
    """Where the container mounts the `models` claim."""
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in pod_spec["volumes"]
        if "persistentVolumeClaim" in v
    }
    [path] = [
        m["mountPath"] for m in container["volumeMounts"] if claims.get(m["name"]) == "models"
    ]
    return path


def seed(command: str, *, shipped: Path, volume: Path) -> None:
    """Run a seed command with the image's folder and the volume moved under tmp (no chown)."""
    script = (
        command.replace(SHIPPED, "@SHIPPED@")
        .replace("/models", str(volume))
        .replace("@SHIPPED@", str(shipped))
        .replace("chown -R willay", "true")
    )
    subprocess.run(["sh", "-c", script], check=True)


def test_compose_serves_and_pins_from_one_models_volume() -> None:
    services = compose()["services"]
    app = services["app"]
    assert f"models:{app['environment']['WILLAY_MODEL_DIR']}" in app["volumes"]
    assert app["depends_on"]["models"] == {"condition": "service_completed_successfully"}
    assert services["models"]["volumes"] == ["models:/models"]
    assert "models" in compose()["volumes"]


def test_every_pod_that_picks_tips_mounts_the_shared_claim_at_its_model_dir() -> None:
    [claim] = kubernetes("models.yaml")
    assert claim["kind"] == "PersistentVolumeClaim" and claim["metadata"]["name"] == "models"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"], "pods on other nodes share it"
    assert (
        "models.yaml"
        in yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["resources"]
    )
    for name in ("app.yaml", "sms-send-due-cronjob.yaml"):
        spec = pod(kubernetes(name)[0])
        for container in spec["containers"]:
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert mounted_models(spec, container) == env["WILLAY_MODEL_DIR"], name
    [init] = pod(kubernetes("app.yaml")[0])["initContainers"]
    assert mounted_models(pod(kubernetes("app.yaml")[0]), init) == "/models"


def test_seeding_adds_a_new_images_versions_and_keeps_the_pin(tmp_path) -> None:
    [init] = pod(kubernetes("app.yaml")[0])["initContainers"]
    command = init["command"][2]
    # compose escapes `$` as `$$`: once unescaped it is the very same command
    assert compose()["services"]["models"]["command"][2].replace("$$", "$") == command
    shipped, volume = tmp_path / "image", tmp_path / "volume"
    shipped.mkdir()
    volume.mkdir()
    (shipped / "willay-recommender-v1.tflite").write_bytes(b"v1 of the image")
    (volume / "willay-recommender-v1.tflite").write_bytes(b"v1 as served")
    (volume / "PINNED").write_text("1\n")
    (shipped / "willay-recommender-v2.tflite").write_bytes(b"v2")
    seed(command, shipped=shipped, volume=volume)
    assert (volume / "willay-recommender-v1.tflite").read_bytes() == b"v1 as served"
    assert (volume / "willay-recommender-v2.tflite").read_bytes() == b"v2"
    assert (volume / "PINNED").read_text() == "1\n"
