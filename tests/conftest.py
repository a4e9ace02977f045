"""Fixtures for the whole suite, loaded from themed modules in tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.environment",
    "tests.fixtures.services",
    "tests.fixtures.ussd",
    "tests.fixtures.telemetry",
    "tests.fixtures.recommender",
    "tests.fixtures.audio",
    "tests.fixtures.sms",
    "tests.fixtures.africastalking",
    "tests.fixtures.studio",
    "tests.fixtures.alerts",
    "tests.fixtures.browser",
]
