"""compose.yaml, the broker's configuration (on a real Mosquitto), the Kubernetes manifests."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import tomllib
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tests.fixtures.requirements import missing_service
from tests.fixtures.services import free_port
from tests.fixtures.telemetry import MOSQUITTO, listening, wait_until
from willay.config import Settings

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
SETTINGS = {f"WILLAY_{name.upper()}" for name in Settings.model_fields}


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def manifests() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(KUBERNETES.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
    ]


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {})
    spec = spec.get("jobTemplate", {}).get("spec", spec)
    return spec.get("template", {}).get("spec", {}).get("containers", [])


class TestCompose:
    def test_the_whole_stack_with_pinned_images(self) -> None:
        services = compose()["services"]
        assert set(services) >= {"app", "redis", "mosquitto", "bridge", "influxdb", "grafana"}
        for name, service in services.items():
            if "image" in service:
                image, _, version = service["image"].partition(":")
                assert version and version != "latest", name
        assert services["influxdb"]["image"].startswith("influxdb:2.")
        assert re.fullmatch(r"grafana/grafana:1[23]\.\d+\.\d+", services["grafana"]["image"])
        assert services["bridge"]["command"] == ["willay", "bridge"]

    def test_settings_are_real_and_secrets_come_from_the_environment(self) -> None:
        services = compose()["services"]
        for name in ("app", "bridge"):
            environment = services[name]["environment"]
            assert set(environment) <= SETTINGS, name
            assert environment["WILLAY_MQTT_PASSWORD"].startswith("${")
        assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${")

    def test_mounted_files_exist(self) -> None:
        for service in compose()["services"].values():
            for volume in service.get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith("./"):
                    assert (ROOT / source).exists(), source


class TestImage:
    def test_it_copies_every_package_it_installs(self) -> None:
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())
        packages = {
            p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]
        }
        copied = re.findall(r"^COPY (\w+) \1$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
        assert {"shell", "willay"} <= packages
        assert packages <= set(copied)
        assert project["project"]["scripts"]["willay"] == "shell.cli:main"


@pytest.fixture
def deploy_broker(tmp_path: Path):
    """deploy/mosquitto's configuration on a real Mosquitto, on a free port under tmp_path."""
    if not Path(MOSQUITTO).exists() or not shutil.which("mosquitto_passwd"):
        missing_service("mosquitto is not installed; run the suite with `make test`")
    port = free_port()
    passwd = tmp_path / "passwd"
    passwd.touch()
    for user, secret in (("app", "app-secret"), ("bridge", "bridge-secret")):
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, secret], check=True)
    conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    conf = conf.replace("listener 1883", f"listener {port} 127.0.0.1\nuser root")
    conf = conf.replace("/mosquitto/data/passwd", str(passwd))
    conf = conf.replace("/mosquitto/config/acl", str(ROOT / "deploy/mosquitto/acl"))
    conf = conf.replace("/mosquitto/data/", f"{tmp_path}/")
    (tmp_path / "mosquitto.conf").write_text(conf)
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(tmp_path / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: listening(port), timeout=10, what="mosquitto to listen")
    yield port
    process.terminate()
    process.wait(timeout=10)


def connect(port: int, user: str | None, secret: str | None = None) -> tuple[mqtt.Client, int]:
    """A connected MQTT 5 client and the CONNACK reason code."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    answered = threading.Event()
    codes: list[int] = []

    def on_connect(c, userdata, flags, reason, properties) -> None:
        codes.append(reason.value)
        answered.set()

    client.on_connect = on_connect
    if user:
        client.username_pw_set(user, secret)
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert answered.wait(5)
    return client, codes[0]


class TestBroker:
    def test_no_anonymous_access(self, deploy_broker: int) -> None:
        client, code = connect(deploy_broker, None)
        client.loop_stop()
        assert code != 0
        wrong, code = connect(deploy_broker, "app", "not-the-password")
        wrong.loop_stop()
        assert code != 0

    def test_the_app_publishes_and_only_the_bridge_reads(self, deploy_broker: int) -> None:
        got: dict[str, list[bytes]] = {"bridge": [], "app": []}
        bridge, code = connect(deploy_broker, "bridge", "bridge-secret")
        assert code == 0
        bridge.on_message = lambda c, u, m: got["bridge"].append(m.payload)
        bridge.subscribe("$share/willay-bridge/willay/v1/events/#", qos=1)
        app, code = connect(deploy_broker, "app", "app-secret")
        assert code == 0
        app.on_message = lambda c, u, m: got["app"].append(m.payload)
        app.subscribe("willay/v1/events/#", qos=1)
        app.publish("willay/v1/events/ussd/hop", b"from-app", qos=1).wait_for_publish(5)
        bridge.publish("willay/v1/events/ussd/hop", b"from-bridge", qos=1).wait_for_publish(5)
        wait_until(lambda: got["bridge"], what="the bridge to get the app's event")
        app.publish("willay/v1/events/ussd/hop", b"marker", qos=1).wait_for_publish(5)
        wait_until(lambda: b"marker" in got["bridge"], what="the marker")
        assert got == {"bridge": [b"from-app", b"marker"], "app": []}
        for client in (app, bridge):
            client.disconnect()
            client.loop_stop()

    def test_bridges_share_their_notes_and_the_app_cannot(self, deploy_broker: int) -> None:
        notes = "willay/v1/bridges/willay-bridge/seen"
        got: dict[str, list[bytes]] = {"bridge": [], "app": []}
        bridge, _ = connect(deploy_broker, "bridge", "bridge-secret")
        bridge.on_message = lambda c, u, m: got["bridge"].append(m.payload)
        bridge.subscribe(notes, qos=1)
        app, _ = connect(deploy_broker, "app", "app-secret")
        app.on_message = lambda c, u, m: got["app"].append(m.payload)
        app.subscribe(notes, qos=1)
        app.publish(notes, b"forged", qos=1).wait_for_publish(5)
        bridge.publish(notes, b"note", qos=1).wait_for_publish(5)
        wait_until(lambda: got["bridge"], what="the bridge to get the note")
        assert got == {"bridge": [b"note"], "app": []}
        for client in (app, bridge):
            client.disconnect()
            client.loop_stop()


class TestKubernetes:
    def test_several_app_and_bridge_replicas(self) -> None:
        by_name = {doc["metadata"]["name"]: doc for doc in manifests() if containers(doc)}
        app, bridge = by_name["app"], by_name["willay-bridge"]
        assert app["kind"] == "Deployment" and app["spec"]["replicas"] >= 2
        assert bridge["kind"] == "StatefulSet" and bridge["spec"]["replicas"] >= 2
        [container] = containers(bridge)
        client_id = next(e for e in container["env"] if e["name"] == "WILLAY_BRIDGE_CLIENT_ID")
        assert client_id["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        assert {"Service"} <= {doc["kind"] for doc in manifests()}

    def test_settings_and_secrets_are_named_right(self) -> None:
        docs = manifests()
        config = next(doc for doc in docs if doc["kind"] == "ConfigMap")
        assert set(config["data"]) <= SETTINGS
        for doc in docs:
            for container in containers(doc):
                for variable in container.get("env", []):
                    if variable["name"].startswith("WILLAY_"):
                        assert variable["name"] in SETTINGS, variable["name"]
                    secret = variable.get("valueFrom", {}).get("secretKeyRef")
                    if secret:
                        assert secret["name"] == "willay-secrets"
                for source in container.get("envFrom", []):
                    assert source["configMapRef"]["name"] == config["metadata"]["name"]

    def test_kustomization_lists_every_manifest(self) -> None:
        kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
        files = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
        assert set(kustomization["resources"]) == files
