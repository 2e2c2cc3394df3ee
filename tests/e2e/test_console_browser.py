"""The operator console in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`,
installed by `.ci/run`) driven by selenium against a local stack.

A missing browser fails these tests, loudly: they never skip. `CONSOLE_SCREENSHOTS=docs` writes the
pages' screenshots to `docs/console-customer.png` and `docs/console-health.png` (the README shows them);
otherwise they go to the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import boto3
import pytest

from parity.services.ingest import queue_message
from tests.e2e.conftest import ADMIN_TOKEN, local_stack, stripe_event, wait_until
from tests.support import stripe as fixtures

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
WAIT = 15


def _browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: `make .venv/.installed` installs requirements-dev.txt")
    binary = next((shutil.which(name) for name in CHROMIUM if shutil.which(name)), None)
    driver = shutil.which("chromedriver")
    if not (binary and driver):
        pytest.fail("Chromium and chromedriver are required (Debian: apt-get install chromium chromium-driver; .ci/run does)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,1000"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, idp):
    workdir = tmp_path_factory.mktemp("console-stack")
    connection = workdir / "local.json"
    with local_stack(workdir, idp, PARITY_LOCAL_FILE=str(connection)) as parity:
        parity.connection = connection
        yield parity


@pytest.fixture(scope="module")
def browser():
    driver = _browser()
    yield driver
    driver.quit()


@pytest.fixture
def shots(tmp_path) -> Path:
    target = os.environ.get("CONSOLE_SCREENSHOTS")
    return (ROOT / target) if target else tmp_path


def wait_for(browser, css: str, text: str | None = None):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    locator = (By.CSS_SELECTOR, css)
    condition = (
        expected_conditions.text_to_be_present_in_element(locator, text)
        if text
        else expected_conditions.visibility_of_element_located(locator)
    )
    WebDriverWait(browser, WAIT).until(condition)
    return browser.find_element(By.CSS_SELECTOR, css)


def click_button(browser, text: str) -> None:
    from selenium.webdriver.common.by import By

    (button,) = [b for b in browser.find_elements(By.TAG_NAME, "button") if b.text == text and b.is_displayed()]
    button.click()


def sign_in(browser, stack) -> None:
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{stack.base_url}/console/")
    browser.execute_script("sessionStorage.clear()")  # each test signs in afresh
    browser.refresh()
    field = wait_for(browser, "#credential")
    assert browser.switch_to.active_element == field, "the sign-in field has the focus"
    field.send_keys(ADMIN_TOKEN, Keys.ENTER)  # the keyboard alone signs in
    wait_for(browser, "#search")


def test_the_page_is_served_without_a_credential_and_embeds_none(stack):
    page = stack.request("GET", "/console/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in ("console.js", "charts.js", "console.css"):
        served = stack.request("GET", f"/console/{asset}")
        assert served.status == 200 and ADMIN_TOKEN.encode() not in served.raw
    assert ADMIN_TOKEN.encode() not in page.raw and b"https://" not in page.raw  # no CDN either
    assert stack.request("GET", "/console/../../etc/passwd").status == 404
    assert stack.admin("GET", "/v1/admin/stats", token=None).status == 401


def test_customer_page_finds_the_buyer_and_grants_an_entitlement(stack, browser, ids, t0, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    # GIVEN a user who bought `pro` on the web
    event = stripe_event("customer.subscription.created", fixtures.subscription(ids.sub, user_id=ids.user), t0)
    assert stack.deliver(event)["outcome"] == "applied"

    # WHEN the operator signs in and looks the buyer up by the Stripe subscription id
    sign_in(browser, stack)
    browser.find_element(By.ID, "search").send_keys(ids.sub, Keys.ENTER)
    wait_for(browser, "#customer h3", f"Customer {ids.user}")
    customer = browser.find_element(By.ID, "customer").text
    assert f"stripe:{ids.sub}" in customer and "cacheUntil" in customer
    browser.find_element(By.CSS_SELECTOR, "#customer details summary").click()
    click_button(browser, "Show")
    wait_for(browser, "#customer", "Verified body")
    assert ids.sub in browser.find_element(By.ID, "customer").text

    # AND grants `lifetime`, with confirmation
    grant_route = stack.admin("POST", f"/v1/admin/users/{ids.user}/grants", b"{}").status != 404
    click_button(browser, "Grant an entitlement…")
    entitlement = wait_for(browser, "#field-entitlement")
    entitlement.clear()
    entitlement.send_keys("lifetime")
    browser.find_element(By.ID, "field-reason").send_keys("goodwill after an outage")
    browser.find_element(By.ID, "confirm-ok").click()

    # THEN it appears among the entitlements (or, before the grants route exists, its error is shown)
    if grant_route:
        wait_for(browser, "#customer", "lifetime")
        assert "manual" in browser.find_element(By.ID, "customer").text
    else:
        alert = wait_for(browser, "#alert", "Granting lifetime failed")
        assert "404 not_found" in alert.text
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(shots / "console-customer.png"))


def test_health_page_charts_and_a_dead_letter_is_redriven(stack, browser, ids, t0, shots):
    from selenium.webdriver.common.by import By

    # GIVEN a processed event whose message copy sits in the store-events DLQ
    event = stripe_event("customer.subscription.created", fixtures.subscription(ids.sub, user_id=ids.user), t0)
    assert stack.deliver(event)["outcome"] == "applied"
    document = json.loads(stack.connection.read_text())
    sqs = boto3.client(
        "sqs", endpoint_url=document["endpointUrl"], region_name=document["region"],
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    dlq_url = document["resources"]["StoreEventsDLQ"]["ref"]
    sqs.send_message(
        QueueUrl=dlq_url,
        MessageBody=queue_message("stripe", event["id"], fixtures.encode(event)),
        MessageGroupId=f"stripe:{ids.sub}",
        MessageDeduplicationId=f"dead-{event['id']}",
    )

    # WHEN the operator opens the health page: charts drawn, the dead letter listed
    sign_in(browser, stack)
    browser.get(f"{stack.base_url}/console/#/health")
    wait_for(browser, "#health", event["id"])
    charts = browser.find_elements(By.CSS_SELECTOR, "#health svg.chart[role=img]")
    assert len(charts) >= 4 and all(chart.get_attribute("aria-label") for chart in charts)
    assert "Silence per store" in browser.find_element(By.ID, "health").text
    browser.save_screenshot(str(shots / "console-health.png"))

    # AND redrives it
    click_button(browser, "Redrive StoreEvents")
    wait_for(browser, "#confirm-ok").click()
    wait_for(browser, "#status", "moved back")

    # THEN the DLQ is empty and the processor took the event once more, changing nothing
    def dlq_empty() -> bool:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        return sum(int(v) for v in sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=names)["Attributes"].values()) == 0

    wait_until(dlq_empty)
    assert len({c["changeId"] for c in stack.changes(ids.user)}) == 1
