import datetime as dt
import hashlib
import hmac
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from willay.config import Environment, Settings
from willay.errors import ConfigurationError
from willay.profiles import Subscriber, event_subject, normalise_msisdn, pseudonym


class TestSettings:
    def test_placeholder_key_refused_outside_development(self) -> None:
        with pytest.raises(ConfigurationError, match="WILLAY_PSEUDONYM_KEY"):
            Settings(environment=Environment.production, callback_token="t")
        assert Settings().environment is Environment.development

    def test_production_needs_callback_token(self) -> None:
        with pytest.raises(ConfigurationError, match="WILLAY_CALLBACK_TOKEN"):
            Settings(environment=Environment.production, pseudonym_key="k" * 32)

    def test_page_budget_never_above_182(self, monkeypatch) -> None:
        monkeypatch.setenv("WILLAY_USSD_PAGE_CHARS", "183")
        with pytest.raises(ValidationError):
            Settings()
        monkeypatch.setenv("WILLAY_USSD_PAGE_CHARS", "182")
        assert Settings().ussd_page_chars == 182

    def test_environment_variables(self, monkeypatch) -> None:
        monkeypatch.setenv("WILLAY_PORT", "9001")
        monkeypatch.setenv("WILLAY_REDIS_URL", "redis://127.0.0.1:6390/2")
        monkeypatch.setenv("WILLAY_CALLBACK_NETWORKS", "196.201.214.0/24, 10.0.0.0/8")
        settings = Settings()
        assert settings.port == 9001 and not settings.embedded
        assert [str(n) for n in settings.callback_networks] == ["196.201.214.0/24", "10.0.0.0/8"]


class TestPseudonym:
    def test_keyed_stable_and_not_the_number(self) -> None:
        a = pseudonym("+51 987 654 321", "key-1")
        assert a == pseudonym("+51987654321", "key-1") == pseudonym("0051987654321", "key-1")
        assert a != pseudonym("+51987654321", "key-2")
        assert len(a) == 32 and "987654321" not in a

    @pytest.mark.parametrize("bad", ["", "987654321", "+51abc", "+1" + "9" * 20])
    def test_refuses_what_is_not_a_number(self, bad: str) -> None:
        with pytest.raises(ValueError):
            normalise_msisdn(bad)


def normalised_by_the_rule(number: str) -> str | None:
    """The international form by the rule spelled out (separators dropped, 00 for +), or None."""
    cleaned = re.sub(r"[\s().-]", "", number)
    cleaned = "+" + cleaned[2:] if cleaned.startswith("00") else cleaned
    return cleaned if re.match(r"^\+[0-9]{7,15}$", cleaned) else None


NUMBERLIKE = st.one_of(
    st.text(alphabet="+0123456789 ().-\n\t\u00a0\u0663\u00b2\uff11", max_size=24),
    st.from_regex(r"\A\+[0-9]{5,17}\Z"),
    st.text(max_size=20),
)


@given(NUMBERLIKE)
@example("+1234567")
@example("+123456789012345")
@example("+1234567890123456")
@example("+123456")
@example("+1234567\n")
@example("+\u0663\u0663\u0663\u0663\u0663\u0663\u0663")
@example("+\uff11234567")
@example("0051987654321")
@example("+51 987 654 321")
def test_normalising_follows_the_rule_for_any_text(number: str) -> None:
    expected = normalised_by_the_rule(number)
    if expected is None:
        with pytest.raises(ValueError):
            normalise_msisdn(number)
    else:
        assert normalise_msisdn(number) == expected


@given(st.from_regex(r"\A(\+|00)[0-9]{7,15}\Z"), st.sampled_from(["key-1", "key-2", "k" * 99]))
def test_pseudonym_is_hmac_sha256_of_the_normalised_number(number: str, key: str) -> None:
    normalised = normalise_msisdn(number).encode()
    expected = hmac.new(key.encode(), normalised, hashlib.sha256).hexdigest()[:32]
    assert pseudonym(number, key) == expected


def test_event_subject_is_the_pseudonym_only_after_consent() -> None:
    anonymous = event_subject(None, "ATUid_1")
    assert anonymous.startswith("anon-") and anonymous == event_subject(None, "ATUid_1")
    assert anonymous != event_subject(None, "ATUid_2")
    subscriber = Subscriber(
        id="abc", language="es", consent_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    assert event_subject(subscriber, "ATUid_1") == "abc"
