"""The browser simulator end to end: headless Chromium drives /simulator against real Redis."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.fixtures.requirements import missing_service
from willay.config import Settings

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 10  # seconds for any one screen to appear
PAGE_CHARS = 160


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the module, on a fresh profile."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.exists():
            missing_service(
                f"{binary} is missing: install the chromium and chromium-driver packages"
            )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


class Simulator:
    """The simulator page as a user sees it: a screen, a keypad input and three buttons."""

    def __init__(self, driver: webdriver.Chrome, url: str) -> None:
        self.driver = driver
        driver.get(url)
        self.wait = WebDriverWait(driver, WAIT)
        self.wait.until(ec.text_to_be_present_in_element((By.ID, "screen"), "Marca el código"))

    @property
    def screen(self) -> str:
        return self.driver.find_element(By.ID, "screen").text

    @property
    def meta(self) -> str:
        return self.driver.find_element(By.ID, "meta").text

    def expect(self, text: str) -> str:
        """Wait until the screen shows `text`; return the whole screen."""
        try:
            self.wait.until(ec.text_to_be_present_in_element((By.ID, "screen"), text))
        except TimeoutException:
            pytest.fail(f"screen never showed {text!r}; it shows {self.screen!r}")
        return self.screen

    def click(self, button: str) -> None:
        self.driver.find_element(By.ID, button).click()

    def send(self, key: str) -> None:
        self.driver.find_element(By.ID, "input").send_keys(key)
        self.click("send")


def test_simulator_walks_the_journey_and_resumes(browser, redis_settings: Settings, serve):
    """Dial, pick Spanish, consent, get a tip, hang up, and be offered to continue."""
    sim = Simulator(browser, serve(redis_settings) + "/simulator")

    sim.click("dial")
    sim.expect("1 Español")
    sim.wait.until(ec.text_to_be_present_in_element((By.ID, "meta"), "caracteres GSM-7"))
    count = re.search(r"(\d+) caracteres GSM-7", sim.meta)
    assert count and 0 < int(count[1]) <= PAGE_CHARS, sim.meta
    assert "(sesión terminada)" not in sim.meta

    sim.send("1")
    sim.expect("1 Acepto")
    sim.send("1")
    sim.expect("Willay salud")
    sim.expect("1 Consejo para mi")

    sim.send("1")
    sim.wait.until_not(ec.text_to_be_present_in_element((By.ID, "screen"), "Willay salud"))
    sim.wait.until(ec.text_to_be_present_in_element((By.ID, "meta"), "borrador"))  # unsigned tip
    for _ in range(3):  # a long tip names its source on a later page
        if "Fuente:" in sim.screen:
            break
        assert "98 Mas" in sim.screen, sim.screen
        before = sim.screen
        sim.send("98")
        sim.wait.until(lambda d, before=before: d.find_element(By.ID, "screen").text != before)
    sim.expect("Fuente:")

    sim.click("hangup")
    sim.expect("Llamada colgada")
    sim.click("dial")
    assert "Empezar de nuevo" in sim.expect("1 Continuar")


def test_simulator_passes_the_callback_token(browser, redis_settings: Settings, serve):
    """With a callback token, the page's ?token= reaches the API; without it the dial is refused."""
    base = serve(redis_settings.model_copy(update={"callback_token": SecretStr("s3cret")}))

    sim = Simulator(browser, base + "/simulator?token=s3cret")
    sim.click("dial")
    sim.expect("1 Español")

    sim = Simulator(browser, base + "/simulator")
    sim.click("dial")
    assert "callback token" in sim.expect("Error 403")
    assert "Español" not in sim.screen
