"""The tiny run's report, read in a real headless browser as a newcomer reads it.

Drives Debian's ``chromium`` through ``chromedriver`` (package ``chromium-driver``) with
Selenium (requirements.txt). Without them the tests are skipped, unless the environment
variable ``CI`` is set: CI installs them (.ci/run), so there they fail instead.
"""

import os
import re
import shutil

import pandas as pd
import pytest

from neuralhull.io import read_table
from tests.conftest import run_snakemake

pytestmark = pytest.mark.workflow

WINDOW = (1280, 800)  # the first screen: a laptop's browser window
SUMMARY = "results/digits/summary"


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _require_browser():
    """Skip, or fail when CI promised a browser, naming what is missing and how to get it."""
    missing = [name for name in ("chromium", "chromedriver") if not shutil.which(name)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the Python package selenium")
    if missing:
        why = (
            f"the report's browser test needs {', '.join(missing)}: "
            "apt-get install -y chromium chromium-driver; pip install -r requirements.txt"
        )
        if _ci():
            pytest.fail(f"CI is set but {why}")
        pytest.skip(why)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium, started before the tiny run so that a missing one skips at once."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium")
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def report(tiny_run, tmp_path_factory):
    """The tiny run's report, written outside the run's folder."""
    path = tmp_path_factory.mktemp("report") / "report.html"
    run_snakemake(tiny_run, "--report", str(path))
    return path


def read_tsv(tiny_run, name):
    return read_table(tiny_run / SUMMARY / f"{name}.tsv")


def shown(value) -> str:
    """A number as the report prints it: 4 significant digits, missing as n/a."""
    return "n/a" if pd.isna(value) else f"{float(value):.4g}"


def sentence(row) -> str:
    """The words of one finding that the report must show, straight from the findings TSV:
    verdict, scope, statistic and value, then the 95 % interval; for a test without an
    interval its Holm-adjusted p-value, and for an every-model summary or a row that cannot
    be tested the detail column (the models' verdicts, or why)."""
    head = f"{row['verdict']} {row['scope']}: {row['statistic']} = {shown(row['value'])}"
    if row["role"] == "summary" or row["verdict"] == "not testable":
        return f"{head}; {flat(str(row['detail']))}"
    if pd.isna(row["ci_low"]) and pd.isna(row["ci_high"]):
        return f"{head}, p (Holm) = {shown(row['p_holm'])}"
    return f"{head}, 95 % interval [{shown(row['ci_low'])}, {shown(row['ci_high'])}]"


def flat(text: str) -> str:
    return " ".join(text.split())


def open_report(driver, report):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(report.as_uri())
    # the report is a React page: wait until its menu is drawn
    WebDriverWait(driver, 60).until(
        ec.presence_of_element_located((By.XPATH, "//span[normalize-space()='1. Findings']"))
    )


def page_text(driver) -> str:
    return flat(driver.execute_script("return document.body.innerText"))


def click_when_clear(driver, find):
    """Click the element ``find(driver)`` returns, again until the click lands: the report's
    menu may still be settling, another of its elements over the point for a moment."""
    from selenium.common.exceptions import ElementClickInterceptedException
    from selenium.webdriver.support.ui import WebDriverWait

    def click(d):
        try:
            find(d).click()
        except ElementClickInterceptedException:
            return False
        return True

    WebDriverWait(driver, 30, poll_frequency=0.2).until(click)


def show_category(driver, category):
    """Click a category in the menu; return the rows of its item list, in their order."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    click_when_clear(
        driver, lambda d: d.find_element(By.XPATH, f"//span[normalize-space()='{category}']")
    )
    return WebDriverWait(driver, 30).until(
        lambda d: d.find_elements(By.XPATH, "//tr[td[normalize-space()='digits']]")
    )


def open_item(driver, category, label):
    """Click a category in the menu, then the eye icon of the item labelled ``label``; return
    what the frame it opens shows (see frame_contents)."""
    from selenium.webdriver.common.by import By

    rows = [row for row in show_category(driver, category) if label in row.text]
    assert rows, f"{category} has no item {label!r}"
    click_when_clear(driver, lambda d: rows[0].find_element(By.CSS_SELECTOR, "a[iconname='eye']"))
    return frame_contents(driver)


def frame_contents(driver):
    """(text, table header, number of table rows) of the frame in the main view."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    frame = WebDriverWait(driver, 30).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "iframe"))
    )
    driver.switch_to.frame(frame)
    try:
        WebDriverWait(driver, 30).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, "table.data"))
        )
        text = page_text(driver)
        head = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "table.data thead th")]
        rows = len(driver.find_elements(By.CSS_SELECTOR, "table.data tbody tr"))
    finally:
        driver.switch_to.default_content()
    return text, head, rows


def pooled(findings, tiny_run):
    """The findings that pool over the models (the front page lists these; the rows of
    single models, scope '..., <model>', it counts)."""
    models = set(read_tsv(tiny_run, "models")["model"])
    single = findings["scope"].map(lambda s: s.rpartition(", ")[2] in models and ", " in s)
    return findings[~single]


def test_front_page_states_every_verdict_with_its_interval(browser, report, tiny_run):
    findings = read_tsv(tiny_run, "findings")
    open_report(browser, report)
    text = page_text(browser)
    rows = pooled(findings, tiny_run)
    assert len(rows) >= findings["claim_id"].nunique()
    for _, row in rows.iterrows():
        assert sentence(row) in text, f"front page lacks: {sentence(row)}\n\n{text[:3000]}"
    for claim in findings["claim"].unique():
        assert claim in text
    counts = findings["verdict"].value_counts()
    assert f"digits: {counts.get('supported', 0)} supported" in text


def test_the_first_verdict_is_on_the_first_screen(browser, report, tiny_run):
    """Not only in the page: inside the window, without scrolling, question included."""
    from selenium.webdriver.common.by import By

    first = read_tsv(tiny_run, "findings").iloc[0]
    open_report(browser, report)
    height = browser.execute_script("return window.innerHeight")
    found = browser.find_elements(By.XPATH, f"//li[contains(., '{first['scope']}:')]")
    assert found, "the front page shows no verdict"
    item = found[-1]  # the innermost: the finding's own line
    assert item.is_displayed()
    assert sentence(first) in flat(item.text)
    box = browser.execute_script("return arguments[0].getBoundingClientRect()", item)
    assert 0 <= box["top"] and box["bottom"] <= height, (box, height)
    question = browser.find_element(
        By.XPATH, "//strong[contains(., 'Do neural networks interpolate or extrapolate?')]"
    )
    top = browser.execute_script("return arguments[0].getBoundingClientRect().top", question)
    assert 0 <= top < height, top


def test_findings_item_sorts_first_and_opens_as_a_table(browser, report, tiny_run):
    from selenium.webdriver.common.by import By

    findings = read_tsv(tiny_run, "findings")
    open_report(browser, report)
    items = show_category(browser, "1. Findings")
    assert "answer: the verdict on every claim (table)" in items[0].text, items[0].text
    click_when_clear(browser, lambda d: items[0].find_element(By.CSS_SELECTOR, "a[iconname='eye']"))
    text, head, n_rows = frame_contents(browser)
    assert head == list(findings.columns)
    assert n_rows == len(findings)
    for _, row in findings.iterrows():  # every finding, single models included
        assert sentence(row) in text, sentence(row)


def test_front_page_link_opens_the_findings_table(browser, report, tiny_run):
    from selenium.webdriver.common.by import By

    open_report(browser, report)
    browser.find_element(By.LINK_TEXT, "Open the findings table").click()
    text, head, n_rows = frame_contents(browser)
    assert n_rows == len(read_tsv(tiny_run, "findings"))
    assert re.search(r"Claim 1: .+ Claim 5: ", text)


@pytest.mark.parametrize(
    ("category", "label", "table"),
    [
        ("2. Models", "zoo", "zoo"),
        ("2. Models", "models (per seed)", "models"),
        ("2. Models", "latent (per seed)", "latent"),
        ("3. Evidence", "hull (per seed)", "hull"),
        ("3. Evidence", "measures (per seed)", "measures"),
        ("3. Evidence", "deciles (per seed)", "deciles"),
    ],
)
def test_every_summary_table_opens_as_a_table(browser, report, tiny_run, category, label, table):
    expected = read_tsv(tiny_run, table)
    open_report(browser, report)
    _, head, n_rows = open_item(browser, category, label)
    assert head == list(expected.columns)
    assert n_rows == len(expected)


def test_a_table_sorts_by_a_clicked_column(browser, report, tiny_run):
    """Clicking a header sorts the rows by that column's numbers (not as text), and again
    the other way."""
    from selenium.webdriver.common.by import By

    measures = read_tsv(tiny_run, "measures")
    expected = measures["auroc"].dropna().sort_values()
    open_report(browser, report)
    open_item(browser, "3. Evidence", "measures (per seed)")
    browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe"))
    try:
        index = list(measures.columns).index("auroc") + 1
        header = browser.find_element(By.CSS_SELECTOR, f"table.data th:nth-child({index})")

        def values():
            cells = browser.find_elements(By.CSS_SELECTOR, f"table.data td:nth-child({index})")
            return [float(c.text) for c in cells if c.text]

        header.click()
        assert values() == [float(shown(v)) for v in expected]
        header.click()
        assert values() == [float(shown(v)) for v in expected[::-1]]
    finally:
        browser.switch_to.default_content()
