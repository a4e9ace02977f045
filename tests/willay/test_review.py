"""`willay content review export/import`: the reviewers' spreadsheet, and what `check` says."""

import csv
import datetime as dt
import io

import pytest
from typer.testing import CliRunner

from shell.cli import app
from tests.fixtures.catalog import raw_tip, write_content
from willay.catalog import load_catalog
from willay.review import HEADER
from willay.signoff import SIGNOFFS_FILE, record_signoff, text_sha256

runner = CliRunner()
TODAY = dt.date.today().isoformat()


@pytest.fixture
def content(tmp_path):
    tips = [
        raw_tip(),
        raw_tip(
            id="anemia-2",
            text={"es": "Dale hígado.", "quy": "Kukupinta quy.", "quz": "K'ukupinta quy."},
        ),
    ]
    return write_content(tmp_path / "content", tips)


def export(content, path, *extra):
    result = runner.invoke(
        app, ["content", "review", "export", str(path), "--content-dir", str(content), *extra]
    )
    assert result.exit_code == 0 and " rows written to " in result.stdout, result.output
    return result


def rows(path):
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def write_rows(path, filled, *, delimiter=","):
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=HEADER, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(filled)


def fill(row, **fields):
    base = {"reviewer": "Dra. Ana Quispe", "role": "Médica, CMP 012345", "decision": "approve"}
    return {**row, **base, "date": TODAY, **fields}


class TestExport:
    def test_bom_exact_header_and_one_row_per_tip_and_language(self, content, tmp_path) -> None:
        sheet = tmp_path / "review.csv"
        result = export(content, sheet)
        raw = sheet.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        assert raw[3:].split(b"\r\n")[0].decode() == ",".join(HEADER)
        got = rows(sheet)
        assert [(r["tip_id"], r["language"]) for r in got] == [
            ("anemia-1", "es"),
            ("anemia-1", "quy"),
            ("anemia-2", "es"),
            ("anemia-2", "quy"),
            ("anemia-2", "quz"),
        ]
        assert got[2]["text"] == "Dale hígado." and got[2]["text_sha256"] == text_sha256(
            "Dale hígado."
        )
        assert all(not r["reviewer"] and not r["decision"] for r in got)
        assert "5 rows written" in result.stdout

    def test_one_language_and_the_environment_variable(
        self, content, tmp_path, monkeypatch
    ) -> None:
        monkeypatch.setenv("WILLAY_CONTENT_DIR", str(content))
        sheet = tmp_path / "quz.csv"
        result = runner.invoke(app, ["content", "review", "export", str(sheet), "--lang", "quz"])
        assert result.exit_code == 0 and result.stdout.startswith("1 rows written"), result.output
        assert [(r["tip_id"], r["language"]) for r in rows(sheet)] == [("anemia-2", "quz")]

    def test_unknown_language_is_one_clear_error(self, content, tmp_path) -> None:
        result = runner.invoke(
            app,
            [
                "content",
                "review",
                "export",
                str(tmp_path / "x.csv"),
                "--lang",
                "xx",
                "--content-dir",
                str(content),
            ],
        )
        assert result.exit_code == 1
        assert "no tip has 'xx' text" in result.stderr


class TestImport:
    def test_records_filled_rows_refuses_a_changed_text_and_keeps_the_rest(
        self, content, tmp_path
    ) -> None:
        sheet = tmp_path / "review.csv"
        export(content, sheet)
        es1, quy1, es2, quy2, quz2 = rows(sheet)
        stale = fill(es2, text_sha256=text_sha256("Dale hígado de pollo."))
        write_rows(
            sheet,
            [
                fill(es1),
                fill(quy1, role="Hablante nativa, Ayacucho", back_translation="Come sangrecita."),
                stale,
                quy2,
                quz2,
            ],
        )
        result = runner.invoke(
            app, ["content", "review", "import", str(sheet), "--content-dir", str(content)]
        )
        assert result.exit_code == 1
        assert "refused anemia-2/es: line 4: the text changed since it was read" in result.stderr
        summary = result.stdout.strip().splitlines()[-1]
        assert summary == "recorded 2 (es 1, quy 1); refused 1; already recorded 0; not filled 2"
        catalog = load_catalog(content)
        assert catalog.is_signed("anemia-1", lang="quy", today=dt.date.today())
        assert not catalog.is_signed("anemia-2", lang="es", today=dt.date.today())
        check = runner.invoke(app, ["content", "check", "--content-dir", str(content)])
        assert check.exit_code == 0, check.output
        assert check.stdout.strip().splitlines()[-1] == (
            "2 tips in 1 topics; es 2/2, quy 2/2, quz 1/2; signed off es 1/2, quy 1/2, quz 0/1"
        )

        again = runner.invoke(
            app, ["content", "review", "import", str(sheet), "--content-dir", str(content)]
        )
        assert "recorded 0; refused 1; already recorded 2; not filled 2" in again.stdout
        assert len((content / SIGNOFFS_FILE).read_text().splitlines()) == 2

    def test_semicolons_from_a_spanish_spreadsheet(self, content, tmp_path) -> None:
        sheet = tmp_path / "review.csv"
        export(content, sheet)
        write_rows(
            sheet, [fill(rows(sheet)[0], decision="Reject", comment="Falta dosis.")], delimiter=";"
        )
        result = runner.invoke(
            app, ["content", "review", "import", str(sheet), "--content-dir", str(content)]
        )
        assert result.exit_code == 0, result.output
        assert "recorded 1 (es 1)" in result.stdout
        record = load_catalog(content).signoffs.history("anemia-1", "es")[0]
        assert (record.decision, record.comment) == ("reject", "Falta dosis.")

    @pytest.mark.parametrize(
        ("fields", "reason"),
        [
            ({"decision": "ok"}, "decision 'ok' is neither approve nor reject"),
            ({"date": "ayer"}, "date 'ayer' is not YYYY-MM-DD"),
            ({"reviewer": ""}, "reviewer"),
            ({"text": "Otro texto."}, "the text was edited in the sheet"),
        ],
    )
    def test_incomplete_rows_are_refused_by_id(self, content, tmp_path, fields, reason) -> None:
        sheet = tmp_path / "review.csv"
        export(content, sheet)
        write_rows(sheet, [fill(rows(sheet)[0], **fields)])
        result = runner.invoke(
            app, ["content", "review", "import", str(sheet), "--content-dir", str(content)]
        )
        assert result.exit_code == 1
        assert "refused anemia-1/es: line 2: " in result.stderr and reason in result.stderr
        assert not (content / SIGNOFFS_FILE).exists()

    def test_a_wrong_header_records_nothing(self, content, tmp_path) -> None:
        sheet = tmp_path / "review.csv"
        sheet.write_text("tip,language\nanemia-1,es\n", encoding="utf-8")
        result = runner.invoke(
            app, ["content", "review", "import", str(sheet), "--content-dir", str(content)]
        )
        assert result.exit_code == 1
        assert "the header must be exactly tip_id,language,text" in result.stderr
        assert not (content / SIGNOFFS_FILE).exists()


def test_check_says_which_signoffs_an_edit_voided(content, tmp_path) -> None:
    sheet = tmp_path / "review.csv"
    export(content, sheet)
    write_rows(sheet, [fill(rows(sheet)[0])])
    runner.invoke(app, ["content", "review", "import", str(sheet), "--content-dir", str(content)])
    tips = content / "tips" / "anemia.yaml"
    tips.write_text(tips.read_text().replace("Come sangrecita.", "Come sangrecita cada día."))
    result = runner.invoke(app, ["content", "check", "--content-dir", str(content)])
    assert result.exit_code == 0, result.output
    assert (
        "tip anemia-1: es clinical sign-off by Dra. Ana Quispe on "
        f"{TODAY} voided: the es text changed"
    ) in result.stderr
    assert result.stdout.strip().endswith("signed off es 0/2, quy 0/2, quz 0/1")


def test_check_warns_of_signoffs_expiring_soon(content) -> None:
    catalog = load_catalog(content)
    today = dt.date.today()
    record_signoff(
        content,
        catalog=catalog,
        tip_id="anemia-1",
        language="es",
        text_sha256=text_sha256("Come sangrecita."),
        reviewer="Dra. Ana Quispe",
        role="Médica, CMP 012345",
        decision="approve",
        date=today,
        expires_on=today + dt.timedelta(days=10),
    )
    result = runner.invoke(app, ["content", "check", "--content-dir", str(content)])
    assert result.exit_code == 0, result.output
    expires = today + dt.timedelta(days=10)
    assert f"tip anemia-1: es clinical sign-off by Dra. Ana Quispe expires on {expires}" in (
        result.stderr
    )
