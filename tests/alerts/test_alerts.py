"""Regional alerts: refused with the reason when wrong; on real Redis and Mosquitto, delivered
once on USSD (above the first screen), IVR (before the menu) and SMS (once per person)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from alerts import MqttAlertBoard
from shell.app import create_app
from shell.cli import app as cli
from tests.fixtures.alerts import NOW, make_alert
from tests.fixtures.audio import Caller, VoiceChecker
from tests.fixtures.environment import TEST_KEY
from tests.fixtures.telemetry import wait_until
from tests.fixtures.ussd import Phone
from ussd.actions import ACTIONS
from ussd.menus import JOURNEY_FILE, alert_room, load_journey
from willay.alerts import (
    ALL_REGIONS,
    Alert,
    AlertError,
    AlertFeed,
    FileAlertBoard,
    draft_alert,
    sign_off,
)
from willay.catalog import load_catalog
from willay.gsm7 import septets, to_gsm7
from willay.profiles import Subscriber, SubscriberStore, pseudonym
from willay.signoff import Decision

runner = CliRunner()


def refusal(settings, **changes) -> list[str]:
    catalog = load_catalog(settings.content_dir)
    journey = load_journey(JOURNEY_FILE, actions=ACTIONS, budget=160)
    fields = {
        "region": "puno",
        "starts": NOW,
        "ends": NOW + dt.timedelta(days=2),
        "text": {"es": "Helada fuerte esta noche.", "quy": "Kunan tuta chiri."},
    } | changes
    with pytest.raises(AlertError) as caught:
        draft_alert(
            **fields,
            catalog=catalog,
            room=lambda lang: alert_room(journey, page_chars=160, lang=lang),
            now=NOW,
        )
    return caught.value.problems


class TestRefused:
    def test_no_text(self, settings):
        assert refusal(settings, text={"es": "  ", "quy": None}) == [
            "no text: give at least the Spanish text (--text-es)"
        ]

    def test_window_backwards(self, settings):
        (problem,) = refusal(settings, ends=NOW - dt.timedelta(hours=1))
        assert problem.startswith("the window runs backwards")

    def test_window_over(self, settings):
        (problem,) = refusal(
            settings, starts=NOW - dt.timedelta(days=3), ends=NOW - dt.timedelta(days=1)
        )
        assert problem.startswith("the window is over")

    def test_unknown_region(self, settings):
        (problem,) = refusal(settings, region="atlantis")
        assert problem.startswith("unknown region 'atlantis' (use 'all' or one of: amazonas")

    def test_text_over_the_page_budget(self, settings):
        journey = load_journey(JOURNEY_FILE, actions=ACTIONS, budget=160)
        room = alert_room(journey, page_chars=160, lang="quy")
        (problem,) = refusal(settings, text={"es": "Helada.", "quy": "a" * (room + 1)})
        assert problem == (
            f"quy text takes {room + 1} GSM-7 characters; above the USSD first screen "
            f"there is room for {room}"
        )

    def test_every_problem_at_once(self, settings):
        problems = refusal(settings, region="x", text={}, ends=NOW)
        assert len(problems) == 3

    def test_cli_says_why_and_publishes_nothing(self, settings, tmp_path, monkeypatch):
        monkeypatch.setenv("WILLAY_ALERTS_FILE", str(tmp_path / "alerts.json"))
        result = runner.invoke(
            cli,
            ["alerts", "publish", "--region", "puno", "--from", "2030-06-20"]
            + ["--to", "2030-06-18", "--text-es", "Helada."],
        )
        assert result.exit_code == 1
        assert "error: the window runs backwards" in result.stderr
        assert "alert not published" in result.stderr
        assert not (tmp_path / "alerts.json").exists()


def test_a_day_window_covers_the_last_day_in_lima(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("WILLAY_ALERTS_FILE", str(tmp_path / "alerts.json"))
    result = runner.invoke(
        cli,
        ["alerts", "publish", "--region", "all", "--from", "2030-06-18", "--to", "2030-06-18"]
        + ["--text-es", "Vacunate contra la influenza.", "--no-sms"],
    )
    assert result.exit_code == 0 and "published alert" in result.stdout, result.output
    (alert,) = FileAlertBoard(tmp_path / "alerts.json").alerts()
    assert alert.starts == dt.datetime(2030, 6, 18, 5, tzinfo=dt.UTC)  # Lima is UTC-5
    assert alert.ends == dt.datetime(2030, 6, 19, 5, tzinfo=dt.UTC)


class TestSignOff:
    def test_production_serves_only_approved_texts(self, settings):
        board = FileAlertBoard(settings.alerts_file)
        unsigned = make_alert(settings, signed=False)
        board.publish(unsigned)
        assert AlertFeed(board, signed_only=True).for_region("puno", NOW) is None
        assert AlertFeed(board, signed_only=False).for_region("puno", NOW) == unsigned
        clinical = sign_off(unsigned, language="es", reviewer="Dra. Quispe", role="Médica", now=NOW)
        board.publish(clinical)
        served = AlertFeed(board, signed_only=True).for_region("puno", NOW)
        assert served is not None and served.id == unsigned.id
        assert served.text == {"es": unsigned.text["es"]}  # Quechua not yet approved: Spanish
        board.publish(make_alert(settings, signed=True))
        served = AlertFeed(board, signed_only=True).for_region("puno", NOW)
        assert served is not None and set(served.text) == {"es", "quy"}

    def test_one_feed_judges_an_alert_once_a_day_and_follows_new_signoffs(
        self, settings, monkeypatch
    ):
        board = FileAlertBoard(settings.alerts_file)
        unsigned = make_alert(settings, signed=False)
        board.publish(unsigned)
        judged = []
        servable = Alert.servable
        monkeypatch.setattr(
            Alert, "servable", lambda alert, today: judged.append(today) or servable(alert, today)
        )
        feed = AlertFeed(board, signed_only=True)
        assert [feed.for_region("puno", NOW) for _ in range(3)] == [None, None, None]
        assert judged == [NOW.date()]  # hashed once, not on every screen
        board.publish(
            sign_off(unsigned, language="es", reviewer="Dra. Quispe", role="Médica", now=NOW)
        )
        served = feed.for_region("puno", NOW)
        assert served is not None and served.text == {"es": unsigned.text["es"]}
        tomorrow = NOW + dt.timedelta(days=1)
        feed.for_region("puno", tomorrow)
        assert judged == [NOW.date(), NOW.date(), tomorrow.date()]

    def test_a_rejection_or_an_edited_text_is_not_approved(self, settings):
        alert = make_alert(settings, signed=False)
        rejected = sign_off(
            alert,
            language="es",
            reviewer="Dra. Quispe",
            role="Médica",
            decision=Decision.reject,
            now=NOW,
        )
        assert rejected.servable(NOW.date()) is None
        signed = make_alert(settings)
        edited = signed.model_copy(update={"text": {**signed.text, "es": "Otra cosa."}})
        assert edited.servable(NOW.date()) is None  # the approval bound the old text

    def test_a_quechua_approval_needs_its_back_translation(self, settings):
        with pytest.raises(AlertError) as caught:
            sign_off(make_alert(settings), language="quy", reviewer="Ana", role="Hablante", now=NOW)
        assert "back-translation" in caught.value.message


def test_cli_publishes_a_retained_message_per_region(alert_settings, editor_board, monkeypatch):
    for name, value in {
        "WILLAY_MQTT_URL": alert_settings.mqtt_url,
        "WILLAY_MQTT_TOPIC_ROOT": alert_settings.mqtt_topic_root,
    }.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(
        cli,
        ["alerts", "publish", "--region", "cusco", "--from", "2030-01-01", "--to", "2030-01-31"]
        + ["--text-es", "Friaje: abrigate.", "--text-quy", "Chiri: qatakuy.", "--no-sms"],
    )
    assert result.exit_code == 0 and " for cusco: " in result.stdout, result.output
    wait_until(lambda: editor_board.alerts(), what="the alert on the board")
    late = MqttAlertBoard.from_settings(alert_settings)  # started after: gets the retained one
    try:
        assert late.wait_ready()
        wait_until(lambda: late.alerts(), what="the retained alert")
        (alert,) = late.alerts()
        assert alert.region == "cusco" and alert.text["quy"] == "Chiri: qatakuy."
    finally:
        late.close()
    result = runner.invoke(cli, ["alerts", "withdraw", "--region", "cusco"])
    assert result.exit_code == 0 and "withdrew the alert of cusco" in result.stdout, result.output
    wait_until(lambda: not editor_board.alerts(), what="the alert withdrawn")


# -- delivery --------------------------------------------------------------------------------------


def _profile(client: TestClient, prefix: str, number: str, **fields) -> Subscriber:
    subscriber = Subscriber(id=pseudonym(number, TEST_KEY), language="es", consent_at=NOW, **fields)
    client.portal.call(SubscriberStore(client.app_state["kv"], prefix=prefix).save, subscriber)
    return subscriber


def _published(client: TestClient, board: MqttAlertBoard, alert) -> None:
    board.publish(alert)
    served = client.app_state["alerts"].board
    wait_until(lambda: alert in served.alerts(), what="the app to receive the alert")


@pytest.mark.redis
class TestUssd:
    @pytest.fixture
    def client(self, alert_settings, events, clock):
        with TestClient(create_app(alert_settings, events=events, clock=clock)) as c:
            yield c

    def test_one_line_above_the_first_screen_of_the_region(
        self, client, alert_settings, editor_board, events
    ):
        prefix = alert_settings.redis_prefix
        puno = _profile(client, prefix, "+51911000001", region="puno")
        _profile(client, prefix, "+51911000002", region="lima")
        alert = make_alert(alert_settings)
        _published(client, editor_board, alert)

        plain = Phone(client, number="+51911000002").dial()
        assert plain.status == 200 and "Helada" not in plain.screen
        phone = Phone(client, number="+51911000001")
        reply = phone.dial()
        assert reply.screen == to_gsm7(alert.text["es"]) + "\n" + plain.screen
        assert septets(reply.screen) <= alert_settings.ussd_page_chars
        (delivered,) = [e for e in events.events if e.kind == "alert_delivered"]
        assert delivered.channel == "ussd" and delivered.subscriber == puno.id
        assert delivered.data == {"alert_id": alert.id, "alert_region": "puno", "region": "puno"}
        assert not [e for e in events.events if e.kind == "alert_seen"]

        assert "Helada fuerte" not in phone.press("2").screen  # once per session, then seen
        (seen,) = [e for e in events.events if e.kind == "alert_seen"]
        assert seen.data == {"alert_id": alert.id, "region": "puno"}

    def test_all_regions_and_the_window(self, client, alert_settings, editor_board, events, clock):
        prefix = alert_settings.redis_prefix
        _profile(client, prefix, "+51911000003", region="lima")
        _profile(client, prefix, "+51911000004")  # no region given
        everyone = make_alert(alert_settings, region=ALL_REGIONS, es="Vacunate: influenza.")
        _published(client, editor_board, everyone)
        assert Phone(client, number="+51911000003").dial().screen.startswith("Vacunate")
        assert Phone(client, number="+51911000004").dial().screen.startswith("Vacunate")
        assert "Vacunate" not in Phone(client, number="+51911000005").dial().screen  # new caller
        clock.now = NOW + dt.timedelta(days=6)  # the window is over
        assert "Vacunate" not in Phone(client, number="+51911000003").dial().screen
        assert len([e for e in events.events if e.kind == "alert_delivered"]) == 2

    def test_quechua_caller_reads_the_quechua_text(self, client, alert_settings, editor_board):
        _profile(client, alert_settings.redis_prefix, "+51911000006", region="puno")
        client.portal.call(
            SubscriberStore(client.app_state["kv"], prefix=alert_settings.redis_prefix).save,
            Subscriber(
                id=pseudonym("+51911000006", TEST_KEY),
                language="quy",
                consent_at=NOW,
                region="puno",
            ),
        )
        alert = make_alert(alert_settings)
        _published(client, editor_board, alert)
        reply = Phone(client, number="+51911000006").dial()
        assert reply.screen.splitlines()[0] == alert.text["quy"]
        assert septets(reply.screen) <= alert_settings.ussd_page_chars


@pytest.mark.redis
def test_ivr_plays_the_alert_before_the_menu(
    ivr_settings, alert_settings, built_audio, editor_board, events, clock
):
    settings = ivr_settings.model_copy(
        update={k: getattr(alert_settings, k) for k in ("mqtt_url", "mqtt_topic_root", "spool_dir")}
    )
    with TestClient(create_app(settings, events=events, clock=clock)) as client:
        number = "+51911000010"
        _profile(client, settings.redis_prefix, number, region="puno")
        alert = make_alert(alert_settings)
        _published(client, editor_board, alert)
        caller = Caller(client, VoiceChecker(client, built_audio.manifest), number=number)
        reply = caller.dial()
        assert reply.plays[0] == f"say:{alert.text['es']}"
        assert reply.plays[1:] == ["prompt:welcome.es"] and reply.asks == "prompt:main.es"
        (delivered,) = [e for e in events.events if e.kind == "alert_delivered"]
        assert delivered.channel == "ivr" and delivered.data["region"] == "puno"
        reply = caller.press("*")  # the next notification: the alert was heard through
        assert not [p for p in reply.plays if p.startswith("say:")]
        (seen,) = [e for e in events.events if e.kind == "alert_seen"]
        assert seen.channel == "ivr" and seen.data["alert_id"] == alert.id

        other = Caller(client, VoiceChecker(client, built_audio.manifest), number="+51911000011")
        _profile(client, settings.redis_prefix, "+51911000011", region="lima")
        assert other.dial().plays == ["prompt:welcome.es"]


@pytest.mark.redis
def test_sms_subscribers_of_the_region_get_it_once(sms, sms_settings):
    puno_es = sms.subscribe(region="puno")
    puno_quy = sms.subscribe(region="puno", lang="quy")
    lima = sms.subscribe(region="lima")
    alert = make_alert(sms_settings)

    report = sms.run(sms.channel.alerts.send, alert)
    assert (report.sent, report.requests, report.other_region) == (2, 2, 1)
    (es_text,) = sms.texts_to(puno_es.sms_number)
    assert es_text.startswith("Willay: ALERTA: Helada fuerte esta noche")
    (quy_text,) = sms.texts_to(puno_quy.sms_number)
    assert "Kunan tuta chiri" in quy_text
    assert sms.texts_to(lima.sms_number) == []
    delivered = [e for e in sms.events.events if e.kind == "alert_delivered"]
    assert {e.subscriber for e in delivered} == {puno_es.id, puno_quy.id}
    assert all(e.channel == "sms" and e.data["region"] == "puno" for e in delivered)

    again = sms.run(sms.channel.alerts.send, alert)  # a second run (cron, retry) texts nobody
    assert (again.sent, again.already, again.requests) == (0, 2, 0)
    assert len(sms.texts_to(puno_es.sms_number)) == 1

    later = make_alert(sms_settings, es="Friaje desde manana: abrigate.", now=NOW)
    sms.clock.now = later.ends  # its window is over: nobody is texted
    report = sms.run(sms.channel.alerts.send, later)
    assert report.sent == 0 and report.error == "outside its window: nothing sent"
    assert len(sms.texts_to(puno_es.sms_number)) == 1


@pytest.mark.redis
def test_a_longest_alert_keeps_the_menu_and_drops_the_title(redis_client, redis_settings, events):
    journey = load_journey(JOURNEY_FILE, actions=ACTIONS, budget=160)
    room = alert_room(journey, page_chars=redis_settings.ussd_page_chars, lang="es")
    board = FileAlertBoard(redis_settings.alerts_file)
    longest = make_alert(redis_settings, es="Helada " + "x" * (room - 7))
    board.publish(longest)
    _profile(redis_client, redis_settings.redis_prefix, "+51911000020", region="puno")
    screen = Phone(redis_client, number="+51911000020").dial().screen
    assert septets(screen) <= redis_settings.ussd_page_chars
    lines = screen.splitlines()
    assert lines[0] == longest.text["es"] and lines[1].startswith("1 ")
    assert lines[-1] == "99 Urgencia"


def test_cli_signs_off_a_published_alert(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("WILLAY_ALERTS_FILE", str(tmp_path / "alerts.json"))
    published = runner.invoke(
        cli,
        ["alerts", "publish", "--region", "puno", "--from", "2030-06-18", "--to", "2030-06-20"]
        + ["--text-es", "Helada fuerte.", "--text-quy", "Chiri.", "--no-sms"],
    )
    assert published.exit_code == 0 and " for puno: " in published.stdout, published.output
    assert "not signed off" in runner.invoke(cli, ["alerts", "list"]).stdout
    refused = runner.invoke(
        cli,
        ["alerts", "sign-off", "--region", "puno", "--lang", "quy"]
        + ["--reviewer", "Sra. Huamán", "--role", "Hablante nativa"],
    )
    assert refused.exit_code == 1 and "back-translation" in refused.stderr
    for lang, extra in (("es", []), ("quy", ["--back-translation", "Hace frío."])):
        signed = runner.invoke(
            cli,
            ["alerts", "sign-off", "--region", "puno", "--lang", lang]
            + ["--reviewer", "Dra. Quispe", "--role", "Médica", *extra],
        )
        assert signed.exit_code == 0, signed.output
    assert "approved in es, quy" in signed.stdout
    (alert,) = FileAlertBoard(tmp_path / "alerts.json").alerts()
    assert [s.language for s in alert.signoffs] == ["es", "quy"]


@pytest.mark.redis
def test_sms_an_alert_the_provider_refused_is_retried_once_then_settled(sms, sms_settings):
    person, blocked = sms.subscribe(region="puno"), sms.subscribe(region="puno")
    alert = make_alert(sms_settings)
    store = sms.channel.services.store
    sms.provider.fail_next = 1
    report = sms.run(sms.channel.alerts.send, alert)
    assert (report.sent, report.retry, report.requests) == (0, 2, 1)
    assert report.error and "SMS send failed" in report.error
    assert {sms.run(store.alert, alert.id, p.id).state for p in (person, blocked)} == {"retry"}

    sms.provider.sms_statuses[blocked.sms_number] = (406, "UserInBlacklist")
    again = sms.run(sms.channel.alerts.send, alert)
    assert (again.sent, again.failed, again.error) == (1, 1, None)
    sent, failed = (sms.run(store.alert, alert.id, p.id) for p in (person, blocked))
    assert (sent.state, sent.attempt, sent.message_id is not None) == ("sent", 2, True)
    assert (failed.state, failed.attempt) == ("failed", 2)
    tried = len(sms.provider.sms())
    third = sms.run(sms.channel.alerts.send, alert)  # settled: nobody is texted again
    assert (third.sent, third.requests, third.already) == (0, 0, 1)  # `blocked` unsubscribed
    assert len(sms.provider.sms()) == tried
