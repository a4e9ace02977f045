"""deploy/nginx/willay.conf in front of the real app: TLS, body cap, stalled bodies dropped."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest

from tests.fixtures.requirements import missing_service
from tests.fixtures.services import free_port
from willay.config import Settings

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "willay.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture
def front_door(
    tmp_path: Path, settings: Settings, serve: Callable[[Settings], str]
) -> Iterator[tuple[int, Path]]:
    """nginx with the shipped config (a throwaway certificate, free ports) before the app."""
    if not Path(NGINX).exists() or shutil.which("openssl") is None:
        missing_service("nginx or openssl is not installed (scripts/services.sh installs nginx)")
    app = serve(settings)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=willay.example.org", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    https, http = free_port(), free_port()
    site = (
        CONF.read_text()
        .replace("/etc/letsencrypt/live/willay.example.org/fullchain.pem", str(cert))
        .replace("/etc/letsencrypt/live/willay.example.org/privkey.pem", str(key))
        .replace("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;")
        .replace("listen [::]:443 ssl;", "")
        .replace("listen 80;", f"listen 127.0.0.1:{http};")
        .replace("listen [::]:80;", "")
        .replace("server 127.0.0.1:8000;", f"server {app.removeprefix('http://')};")
        .replace("client_body_timeout 5s;", "client_body_timeout 1s;")  # a quicker test
        .replace("/var/log/nginx/", f"{tmp_path}/")
    )
    (tmp_path / "willay.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "worker_processes 1;\nevents {}\n"
        f"http {{\n  client_body_temp_path {tmp_path};\n  proxy_temp_path {tmp_path};\n"
        f"  include {tmp_path}/willay.conf;\n}}\n"
    )
    command = [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0 and "test is successful" in checked.stderr, checked.stderr
    proc = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", https), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield https, cert
    proc.terminate()
    proc.wait(timeout=10)


def test_tls_front_door_serves_caps_and_drops_stalls(front_door) -> None:
    port, cert = front_door
    base = f"https://127.0.0.1:{port}"
    with httpx2.Client(verify=False, trust_env=False, timeout=10) as client:
        health = client.get(f"{base}/healthz")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        assert health.headers["strict-transport-security"].startswith("max-age=")
        hop = client.post(
            f"{base}/ussd/africastalking",
            data={"sessionId": "ATUid_n", "serviceCode": "*123#", "phoneNumber": "+51987654321"},
        )
        assert hop.status_code == 200 and hop.text.startswith("CON ")
        big = client.post(f"{base}/ussd/africastalking", content=b"a" * (65 * 1024))
        assert big.status_code == 413 and "413 Request Entity Too Large" in big.text
    # a body that stalls: nginx gives up after client_body_timeout
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with context.wrap_socket(raw) as tls:
        started = time.monotonic()
        tls.sendall(
            b"POST /ussd/africastalking HTTP/1.1\r\nHost: willay.example.org\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nf="
        )
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    assert time.monotonic() - started < 5
    assert answer == b""  # nginx ends a timed-out request without an answer (no 408 is sent)
