"""The OpenAPI schema is true: schemathesis checks and fuzzes the real app on real Redis.

Every operation is called with examples, boundary values and generated data (valid and not),
and every answer is checked against the schema: status code, content type, body shape; valid
data accepted, invalid data refused, never a 500. Bounded (a fixed seed, 40 examples an
operation) so it runs in the normal pytest run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.requirements import missing_service
from willay.config import Settings

pytestmark = pytest.mark.redis

CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_schemathesis_conformance_and_fuzz(
    serve: Callable[[Settings], str], redis_settings: Settings, tmp_path: Path
) -> None:
    cli = Path(sys.executable).with_name("schemathesis")
    if not cli.exists() and shutil.which("schemathesis") is None:
        missing_service("schemathesis is not installed: pip install '.[dev]'")
    base = serve(redis_settings)
    result = subprocess.run(
        [
            str(cli) if cli.exists() else "schemathesis",
            "--config-file",
            str(CONFIG),
            "run",
            f"{base}/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "40",
            "--seed",
            "11",
            "--workers",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # its cache folder goes there
    )
    summary = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, summary
    assert re.search(r"Test cases:\s+([1-9]\d*) generated, \1 passed\n", result.stdout), summary


class TestSchema:
    @pytest.fixture
    def schema(self, client: TestClient) -> dict:
        return client.get("/openapi.json").json()

    def test_malformed_is_400_in_the_error_shape_never_422(self, schema) -> None:
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                assert "422" not in operation["responses"], (method, path)
        hop = schema["paths"]["/ussd/africastalking"]["post"]["responses"]
        error = {"$ref": "#/components/schemas/ErrorPublic"}
        for status in ("400", "403", "408", "413"):
            assert hop[status]["content"]["application/json"]["schema"] == error
        assert "HTTPValidationError" not in schema["components"]["schemas"]

    def test_phone_numbers_have_their_pattern(self, schema) -> None:
        forms = schema["components"]["schemas"]
        for form, field in [
            ("AtUssdForm", "phoneNumber"),
            ("AtUssdNotice", "phoneNumber"),
            ("AtInboundSms", "from"),
            ("AtDeliveryReport", "phoneNumber"),
        ]:
            assert forms[form]["properties"][field]["pattern"].startswith("^(\\+|00)"), form

    def test_optional_form_fields_are_never_null(self, schema) -> None:
        notice = schema["components"]["schemas"]["AtUssdNotice"]["properties"]
        assert notice["hopsCount"] == {"type": "integer", "minimum": 0, "title": "Hopscount"}


class TestMethods:
    def test_405_allows_every_method_of_the_path_in_the_error_shape(self, client) -> None:
        response = client.options("/studio/api/rebuild")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, POST"
        assert response.json()["error"] == "MethodNotAllowed"

    def test_an_app_api_path_is_405_not_a_missing_file(self, client) -> None:
        response = client.get("/app/queue")
        assert response.status_code == 405 and response.headers["allow"] == "POST"
        script = client.get("/app/app.js")
        assert script.status_code == 200 and "serviceWorker" in script.text
        missing = client.get("/app/nope.js")
        assert missing.status_code == 404 and missing.json()["error"] == "NotFound"

    def test_queue_topics_are_the_catalogs(self, client) -> None:
        schema = client.get("/openapi.json").json()["components"]["schemas"]
        topic = schema["QueueRequest"]["properties"]["topic"]["anyOf"][0]
        assert "dengue" in topic["enum"] and "gg" not in topic["enum"]
