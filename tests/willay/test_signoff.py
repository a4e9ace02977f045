import datetime as dt

import pytest

from tests.fixtures.catalog import raw_tip, write_content
from willay.catalog import load_catalog
from willay.errors import ContentError, SignOffRefused
from willay.signoff import SIGNOFFS_FILE, load_signoffs, record_signoff, text_sha256

NOW = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)
TODAY = NOW.date()
ES = "Come sangrecita."
QUY = "Yawarchata mikuy."


@pytest.fixture
def content(tmp_path):
    return write_content(tmp_path, [raw_tip(), raw_tip(id="anemia-2")])


def sign(content, language="es", *, tip_id="anemia-1", text=None, **fields):
    catalog = load_catalog(content)
    data = {
        "reviewer": "Dra. Ana Quispe",
        "role": "Médica, CMP 012345" if language == "es" else "Hablante nativa, Ayacucho",
        "decision": "approve",
        "date": dt.date(2026, 11, 20),
        "back_translation": "" if language == "es" else "Come sangrecita.",
    }
    data.update(fields)
    sha = text_sha256(text or catalog.by_id[tip_id].text[language])
    return record_signoff(
        content,
        catalog=catalog,
        tip_id=tip_id,
        language=language,
        text_sha256=sha,
        now=NOW,
        **data,
    )


def edit(content, tip_id, language, text):
    path = content / "tips" / "anemia.yaml"
    old = load_catalog(content).by_id[tip_id].text[language]
    path.write_text(path.read_text().replace(old, text, 1))


class TestServable:
    def test_nothing_signed_nothing_servable(self, content) -> None:
        catalog = load_catalog(content)
        assert catalog.signed_only(TODAY).tips == ()
        assert catalog.signed_counts(TODAY) == {"es": 0, "quy": 0}

    def test_clinical_approval_serves_spanish_only(self, content) -> None:
        sign(content)
        catalog = load_catalog(content)
        tip = catalog.by_id["anemia-1"]
        assert catalog.signoffs.servable_languages(tip, TODAY) == {"es"}
        served = catalog.signed_only(TODAY)
        assert [t.id for t in served.tips] == ["anemia-1"]
        assert served.by_id["anemia-1"].text_for("quy") == (ES, "es")

    def test_quechua_needs_clinical_and_language(self, content) -> None:
        sign(content, "quy")
        catalog = load_catalog(content)
        assert not catalog.is_signed("anemia-1", lang="quy", today=TODAY)
        sign(content)
        catalog = load_catalog(content)
        assert catalog.is_signed("anemia-1", lang="quy", today=TODAY)
        assert catalog.signed_only(TODAY).by_id["anemia-1"].text_for("quy") == (QUY, "quy")

    def test_latest_decision_wins(self, content) -> None:
        sign(content)
        sign(content, decision="reject", date=dt.date(2026, 11, 25), comment="Falta la dosis.")
        catalog = load_catalog(content)
        assert not catalog.is_signed("anemia-1", lang="es", today=TODAY)
        assert catalog.signoffs.decision(catalog.by_id["anemia-1"], "es").comment == (
            "Falta la dosis."
        )

    def test_expiry(self, content) -> None:
        sign(content, expires_on=dt.date(2026, 12, 31))
        catalog = load_catalog(content)
        assert catalog.is_signed("anemia-1", lang="es", today=dt.date(2026, 12, 30))
        assert not catalog.is_signed("anemia-1", lang="es", today=dt.date(2026, 12, 31))
        assert catalog.signed_only(dt.date(2026, 12, 31)).tips == ()
        served = catalog.signed_only(TODAY)
        assert served.current_tips(dt.date(2027, 1, 1)) == []  # stops the day it expires

    def test_default_validity_is_a_year(self, content) -> None:
        record = sign(content)
        assert record.expires_on == dt.date(2027, 11, 20)


class TestVoided:
    def test_an_edit_voids_the_signoff_and_says_which(self, content) -> None:
        sign(content)
        sign(content, "quy")
        edit(content, "anemia-1", "quy", "Yawarchata sapa punchaw mikuy.")
        catalog = load_catalog(content)
        assert catalog.is_signed("anemia-1", lang="es", today=TODAY)
        assert not catalog.is_signed("anemia-1", lang="quy", today=TODAY)
        voided = [str(v) for v in catalog.signoffs.voided(catalog.tips)]
        assert voided == [
            "tip anemia-1: quy language sign-off by Dra. Ana Quispe on 2026-11-20 voided:"
            " the quy text changed"
        ]

    def test_a_spanish_edit_voids_the_translations_too(self, content) -> None:
        sign(content)
        sign(content, "quy")
        edit(content, "anemia-1", "es", "Come sangrecita cada día.")
        catalog = load_catalog(content)
        reasons = sorted(v.reason for v in catalog.signoffs.voided(catalog.tips))
        assert reasons == ["the es text changed", "the es text it translates changed"]
        assert catalog.signed_only(TODAY).tips == ()


class TestRecord:
    def test_refuses_a_changed_text(self, content) -> None:
        with pytest.raises(SignOffRefused, match="anemia-1/es: the text changed"):
            sign(content, text="Come hígado.")
        assert not (content / SIGNOFFS_FILE).exists()

    @pytest.mark.parametrize(
        ("language", "fields", "reason"),
        [
            ("es", {"date": dt.date(2026, 12, 1)}, "in the future"),
            ("es", {"reviewer": ""}, "reviewer"),
            ("es", {"role": " "}, "role"),
            ("quy", {"back_translation": ""}, "back-translation"),
            ("es", {"decision": "maybe"}, "decision"),
        ],
    )
    def test_refuses_incomplete_signoffs(self, content, language, fields, reason) -> None:
        with pytest.raises(SignOffRefused, match=reason):
            sign(content, language, **fields)

    def test_unknown_tip_or_language(self, content) -> None:
        catalog = load_catalog(content)
        for tip_id, lang in (("nada", "es"), ("anemia-1", "quz")):
            with pytest.raises(SignOffRefused, match=f"{tip_id}/{lang}"):
                record_signoff(
                    content,
                    catalog=catalog,
                    tip_id=tip_id,
                    language=lang,
                    text_sha256=text_sha256(ES),
                    reviewer="Ana",
                    role="Médica",
                    decision="approve",
                    date=TODAY,
                )

    def test_a_corrupt_line_is_a_content_problem(self, content) -> None:
        sign(content)
        with (content / SIGNOFFS_FILE).open("a") as out:
            out.write('{"kind": "clinical"}\n')
        with pytest.raises(ContentError, match="signoffs.jsonl line 2"):
            load_signoffs(content)
        with pytest.raises(ContentError):
            load_catalog(content)
