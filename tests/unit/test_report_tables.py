"""The HTML renderings of the summary tables and the front page's verdicts
(neuralhull.report_tables), read back with the standard library's HTML parser."""

import math
import urllib.parse
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from neuralhull.report_tables import (
    format_number,
    report_link,
    table_page,
    verdicts_fragment,
    write_pages,
)


class Cells(HTMLParser):
    """Header texts, and per body row (text, data-v) of each cell, of the first table."""

    def __init__(self):
        super().__init__()
        self.head, self.rows, self._cell, self._attrs, self._where = [], [], None, {}, None

    def handle_starttag(self, tag, attrs):
        if tag in ("thead", "tbody"):
            self._where = tag
        elif tag == "tr" and self._where == "tbody":
            self.rows.append([])
        elif tag in ("th", "td") and self._where:
            self._cell, self._attrs = "", dict(attrs)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            if self._where == "thead":
                self.head.append(self._cell)
            else:
                self.rows[-1].append((self._cell, self._attrs.get("data-v")))
            self._cell = None
        elif tag in ("thead", "tbody"):
            self._where = None


def parse(text):
    cells = Cells()
    cells.feed(text)
    return cells


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.123456, "0.1235"),
        (1797.0, "1797"),
        (2.5e-05, "2.5e-05"),
        (np.float64(0.5), "0.5"),
        (np.int64(12), "12"),
        (float("nan"), ""),
        (None, ""),
        (float("inf"), "inf"),
        (True, "True"),
        ("a <b>", "a <b>"),
    ],
)
def test_numbers_are_rounded_for_reading(value, shown):
    assert format_number(value) == shown


def test_a_page_holds_every_row_and_column_rounded_for_reading():
    df = pd.DataFrame(
        {
            "model": ["mlp", "cnn <wide>", "x & y"],
            "seed": [0, 1, 2],
            "accuracy": [0.912345678, np.nan, 1 / 3],
            "chosen": [True, False, True],
        }
    )
    page = table_page(df, title="zoo: digits", provenance={"config_sha256": "abc"})
    cells = parse(page)
    assert cells.head == list(df.columns)
    assert len(cells.rows) == len(df)
    for row, (_, expected) in zip(cells.rows, df.iterrows(), strict=True):
        assert [text for text, _ in row][:2] == [expected["model"], str(expected["seed"])]
        shown = row[2][0]
        if math.isnan(expected["accuracy"]):
            assert shown == ""
        else:
            assert abs(float(shown) - expected["accuracy"]) < 1e-4
        assert row[3][0] == str(expected["chosen"])
    # the numeric columns (seed, accuracy; not the booleans) are right-aligned
    assert "table.data td:nth-child(2), table.data td:nth-child(3) {" in page
    assert "config_sha256" in page and "<script>" in page
    assert "src=" not in page and "<link" not in page  # self-contained: nothing to fetch


def findings_frame():
    row = {
        "source": "Balestriero et al. 2021",
        "statistic": "fraction inside (pooled over runs)",
        "n": 400,
        "unit": "test queries",
        "threshold": 0.05,
        "rule": "supported if ci_high < threshold; contradicted if ci_low > threshold",
        "p_value": np.nan,
        "detail": np.nan,
        "claim": "almost no test sample is inside the training hull",
        "claim_id": 1,
    }
    rows = [
        {**row, "scope": "pixel space", "value": 0.01, "ci_low": 0.004, "ci_high": 0.03,
         "verdict": "supported"},
        {**row, "scope": "last hidden layer, mlp", "value": 0.2, "ci_low": 0.1, "ci_high": 0.3,
         "verdict": "contradicted"},
        {**row, "scope": "last hidden layer, cnn", "value": 0.04, "ci_low": 0.01,
         "ci_high": 0.08, "verdict": "inconclusive"},
        {**row, "claim_id": 5, "claim": "proximity relates to errors",
         "source": "Bonnasse-Gahot 2022", "scope": "activation space, distances",
         "statistic": "AUROC(knn) - AUROC(outside_hull)", "value": 0.12, "ci_low": 0.05,
         "ci_high": 0.19, "threshold": 0.0,
         "rule": "supported if ci_low > 0; contradicted if ci_high < 0",
         "verdict": "supported", "detail": "best proximity measure: knn"},
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_front_page_fragment_states_pooled_verdicts_and_counts_single_models():
    frag = verdicts_fragment(
        findings_frame(),
        dataset="digits",
        models=["mlp", "cnn"],
        table_path="results/digits/summary/html/findings.html",
    )
    text = " ".join(HTMLText.of(frag).split())
    assert "digits: 2 supported, 1 contradicted, 1 inconclusive (4 tests of 2 claims)" in text
    assert (
        "supported pixel space: fraction inside (pooled over runs) = 0.01, "
        "95 % interval [0.004, 0.03]; supported below 0.05"
    ) in text
    assert "supported above 0" in text
    assert "n = 400" not in text  # the samples and details are in the findings table
    # the rows of single models are counted, not listed
    assert "single models: 1 contradicted, 1 inconclusive" in text
    assert "last hidden layer, mlp" not in text


def test_the_link_opens_the_report_item_by_its_path():
    href = report_link("results/digits/summary/html/findings.html")
    assert href.startswith("javascript:")
    script = urllib.parse.unquote(href.removeprefix("javascript:"))
    path = '"results/digits/summary/html/findings.html"'
    assert f"app.showResultInfo({path})" in script
    assert f"contentPath:results[{path}].data_uri" in script
    assert script.endswith("void 0")  # a javascript: URL must not replace the page
    assert '"' not in href and "<" not in href


def test_pages_are_written_for_each_table_and_the_fragment(tmp_path):
    tables = {
        "findings": findings_frame(),
        "models": pd.DataFrame({"model": ["mlp", "cnn"], "seed": [0, 0]}),
    }
    pages = {name: tmp_path / f"{name}.html" for name in tables}
    write_pages(
        tables,
        pages,
        dataset="digits",
        provenance={"config_sha256": "abc"},
        verdicts=tmp_path / "verdicts.html",
    )
    findings = (tmp_path / "findings.html").read_text()
    assert "Claim 1: almost no test sample is inside the training hull" in findings
    assert "Claim 5: proximity relates to errors" in findings
    assert "supported below 0.05 (n = 400 test queries)" in findings
    assert "best proximity measure: knn" in findings
    assert len(parse(findings).rows) == 4
    assert len(parse((tmp_path / "models.html").read_text()).rows) == 2
    assert "single models" in (tmp_path / "verdicts.html").read_text()
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


class HTMLText(HTMLParser):
    """The text of an HTML fragment, as a reader sees it (tags dropped)."""

    def __init__(self):
        super().__init__()
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)

    @classmethod
    def of(cls, text):
        parser = cls()
        parser.feed(text)
        return "".join(parser.parts)


@pytest.mark.parametrize("method", ["delong", "bootstrap"])
def test_captions_name_the_interval_method_the_config_chose(method):
    """The captions of the AUROC intervals are rendered from the config as Snakemake renders
    them (Jinja with snakemake.config, then reStructuredText): they name the method in use
    and not the other."""
    from types import SimpleNamespace

    import jinja2
    from docutils.core import publish_parts

    from tests.conftest import ROOT

    config = {
        "analysis": {"interval": method, "n_boot": 123, "seed": 7},
        "findings": {"n_boot": 456},
        "theory": {"enabled": True},
        "datasets": [{"name": "digits", "models": ["mlp"]}],
        "seeds": [0, 1],
    }
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)  # as Snakemake's report
    for name, resamples in (("measures", 123),):
        source = (ROOT / "workflow/report" / f"{name}.rst").read_text()
        rst = env.from_string(source).render(snakemake=SimpleNamespace(config=config))
        text = " ".join(HTMLText.of(publish_parts(rst, writer="html")["body"]).split())
        if method == "delong":
            assert "DeLong" in text, (name, text)
            assert "percentile bootstrap" not in text and "paired bootstrap" not in text, text
        else:
            assert "DeLong" not in text, (name, text)
            assert "bootstrap" in text and f"{resamples} resamples" in text, (name, text)


def test_front_page_shows_summaries_untestable_rows_and_tests_without_interval():
    nan = float("nan")
    base = {
        "claim_id": 1,
        "claim": "c",
        "source": "s",
        "threshold": 0.0,
        "p_value": nan,
        "p_holm": nan,
        "statistic": "stat",
        "unit": "models",
        "n": 3,
        "role": "test",
        "rule": "supported if statistic < 0 and Holm-adjusted p < 0.05; contradicted if "
        "statistic > 0 and Holm-adjusted p < 0.05",
    }
    rows = [
        {**base, "scope": "every model", "role": "summary", "value": 0.0, "ci_low": nan,
         "ci_high": nan, "verdict": "contradicted", "detail": "2 supported, 1 contradicted"},
        {**base, "scope": "pixels vs membership", "value": nan, "ci_low": nan, "ci_high": nan,
         "verdict": "not testable", "detail": "outside_hull constant over the images"},
        {**base, "scope": "lever width", "value": -0.8, "ci_low": nan, "ci_high": nan,
         "p_value": 0.01, "p_holm": 0.02, "verdict": "supported", "detail": ""},
    ]  # fmt: skip
    frag = verdicts_fragment(
        pd.DataFrame(rows), dataset="d", models=[], table_path="results/d/summary/html/f.html"
    )
    text = " ".join(HTMLText.of(frag).split())
    assert "(2 tests and 1 every-model summaries of 1 claims)" in text
    assert "every model: stat = 0; 2 supported, 1 contradicted" in text
    assert "pixels vs membership: stat = n/a; outside_hull constant over the images" in text
    assert "lever width: stat = -0.8, p (Holm) = 0.02" in text
    assert "95 % interval [n/a" not in text
