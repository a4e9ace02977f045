"""A missing service skips with its reason on a laptop and fails the run under CI."""

from __future__ import annotations

import pytest

from tests.fixtures.requirements import missing_service


@pytest.fixture
def outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("WILLAY_TEST_REQUIRE_SERVICES", raising=False)


def test_outside_ci_a_missing_service_skips_with_its_reason(outside_ci) -> None:
    with pytest.raises(pytest.skip.Exception, match="Redis not reachable"):
        missing_service("Redis not reachable at redis://127.0.0.1:1/0")


@pytest.mark.parametrize(("name", "value"), [("CI", "true"), ("WILLAY_TEST_REQUIRE_SERVICES", "1")])
def test_where_services_are_required_a_missing_one_fails(
    outside_ci, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(pytest.fail.Exception, match="no MQTT broker.*services are required"):
        missing_service("no MQTT broker at mqtt://127.0.0.1:1")
