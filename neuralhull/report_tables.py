"""The summary tables as HTML pages for the Snakemake report, and the verdicts of the
findings as a fragment for the report's front page.

Snakemake's report shows images, HTML and PDF in the browser; any other file (a TSV) only
gets a download button. Each table is therefore also written as a small self-contained
HTML page (no external files, no network): a sortable, filterable table of every row,
numbers rounded for reading (the TSV keeps them in full), and the table's provenance.
The findings page opens with the verdicts, claim by claim, before the table.

The TSVs stay the product; these pages are renderings of the same DataFrames.
"""

from __future__ import annotations

import html
import json
import math
import re
import urllib.parse
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from neuralhull.io import atomic_path

#: Colours of the verdicts, as in the findings figure (green, red, grey).
VERDICT_COLOURS = {
    "supported": "#1a7f37",
    "contradicted": "#c62828",
    "inconclusive": "#666",
    "not testable": "#8a6d00",
}

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1f2328; margin: 1em 1.5em; }
h1 { font-size: 1.35em; margin: 0 0 .3em; }
h2 { font-size: 1.1em; margin: 1.1em 0 .3em; }
p.note { color: #555; margin: .2em 0 .8em; }
ul.rows { margin: .2em 0; padding-left: 1.2em; }
ul.rows li { margin: .15em 0; }
.verdict { font-weight: 600; color: #fff; border-radius: 3px; padding: 0 .35em; }
.controls { margin: 1em 0 .4em; }
.controls input { font: inherit; padding: .15em .4em; width: 18em; }
table.data { border-collapse: collapse; font-size: 13px; }
table.data th, table.data td { border: 1px solid #d0d7de; padding: .2em .45em;
                               text-align: left; vertical-align: top; }
table.data td { font-variant-numeric: tabular-nums; }
table.data thead th { position: sticky; top: 0; background: #f0f3f6; cursor: pointer;
                      white-space: nowrap; }
table.data thead th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.data thead th[aria-sort="descending"]::after { content: " \\25BC"; }
table.data tbody tr:nth-child(even) { background: #f8f9fa; }
details { margin-top: 1.2em; color: #555; }
"""

# Click a column header to sort by it (again: the other way); type in the box to keep only
# the rows that contain the text. A column of numbers (empty cells aside) sorts as numbers.
_SCRIPT = """
(function () {
  var table = document.querySelector("table.data");
  var body = table.tBodies[0];
  var heads = table.tHead.rows[0].cells;
  function key(row, i) {
    var t = row.cells[i].textContent;
    return t === "inf" ? "Infinity" : t === "-inf" ? "-Infinity" : t;
  }
  Array.prototype.forEach.call(heads, function (th, i) {
    th.title = "sort by this column";
    th.addEventListener("click", function () {
      var rows = Array.prototype.slice.call(body.rows);
      var numeric = rows.every(function (r) {
        var v = key(r, i); return v === "" || !isNaN(parseFloat(v));
      });
      var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      rows.sort(function (a, b) {
        var x = key(a, i), y = key(b, i);
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        if (numeric) { return dir * (parseFloat(x) - parseFloat(y)); }
        return dir * x.localeCompare(y);
      });
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  var filter = document.getElementById("filter");
  var shown = document.getElementById("shown");
  filter.addEventListener("input", function () {
    var text = filter.value.toLowerCase(), n = 0;
    Array.prototype.forEach.call(body.rows, function (r) {
      var keep = r.textContent.toLowerCase().indexOf(text) >= 0;
      r.style.display = keep ? "" : "none"; n += keep;
    });
    shown.textContent = n;
  });
})();
"""


def _missing(value) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def format_number(value) -> str:
    """A cell as a reader sees it: floats to 4 significant digits (whole numbers without a
    decimal point), missing values empty, everything else as written."""
    if _missing(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4g}"
    return str(value)


def table_html(df: pd.DataFrame) -> str:
    """``df`` as an HTML table (class ``data``): every row and column, without the index,
    each cell as :func:`format_number` shows it; numeric columns right-aligned."""
    numeric = [
        i
        for i, c in enumerate(df.columns, start=1)
        if pd.api.types.is_numeric_dtype(df[c].dtype) and not pd.api.types.is_bool_dtype(df[c])
    ]
    align = ", ".join(f"table.data td:nth-child({i})" for i in numeric)
    style = f"<style>{align} {{ text-align: right; }}</style>" if numeric else ""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = [
        "<tr>" + "".join(f"<td>{html.escape(format_number(v))}</td>" for v in values) + "</tr>"
        for values in df.itertuples(index=False, name=None)
    ]
    return (
        style
        + '<table class="data"><thead><tr>'
        + head
        + "</tr></thead><tbody>\n"
        + "\n".join(rows)
        + "\n</tbody></table>"
    )


def table_page(
    df: pd.DataFrame,
    *,
    title: str,
    provenance: Mapping[str, object] | None = None,
    before: str = "",
    note: str = "",
) -> str:
    """A self-contained HTML page showing ``df``: ``title``, the HTML block ``before`` (e.g.
    the verdicts), the sortable and filterable table, and ``provenance`` (key: value)."""
    prov = ""
    if provenance:
        items = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in provenance.items()
        )
        prov = f"<details><summary>Provenance</summary><table>{items}</table></details>"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        + (f'<p class="note">{note}</p>\n' if note else "")
        + before
        + '<div class="controls"><label>Filter rows: <input id="filter" type="search" '
        'placeholder="any text in the row"></label> '
        f'<span id="shown">{len(df)}</span> of {len(df)} rows; click a column header to '
        "sort.</div>\n"
        + table_html(df)
        + "\n"
        + prov
        + f"\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )


# ---------------------------------------------------------------------------------------------
# the verdicts


def _side(rule: str) -> str:
    """'below 0.05' / 'above 0' from a findings rule such as 'supported if ci_high <
    threshold; ...' (empty when the rule says neither)."""
    m = re.match(r"supported if ci_(high|low) ([<>])", str(rule))
    if not m:
        return ""
    return "below" if m.group(2) == "<" else "above"


def _verdict_badge(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(str(verdict), "#666")
    return (
        f'<span class="verdict" style="background:{colour};color:#fff;font-weight:600;'
        f'border-radius:3px;padding:0 .35em">{html.escape(str(verdict))}</span>'
    )


def _number(value) -> str:
    return format_number(value) or "n/a"


def verdict_sentence(row: Mapping, *, brief: bool = False) -> str:
    """One finding in words (HTML): verdict, scope, statistic, 95 % interval, threshold and
    (unless ``brief``) the samples behind it, the p-value and the detail, as the findings
    table gives them."""
    side = _side(row["rule"])
    need = f"; supported {side} {format_number(row['threshold'])}" if side else ""
    head = (
        f"{_verdict_badge(row['verdict'])} <b>{html.escape(str(row['scope']))}</b>: "
        f"{html.escape(str(row['statistic']))} = {_number(row['value'])}"
    )
    detail = "" if _missing(row.get("detail")) else str(row["detail"]).strip()
    if row.get("role") == "summary" or row["verdict"] == "not testable":
        # no interval to show: the models' verdicts, or why the row cannot be tested
        return head + (f"; {html.escape(detail)}" if detail else "")
    if _missing(row["ci_low"]) and _missing(row["ci_high"]) and not _missing(row.get("p_holm")):
        text = f"{head}, p (Holm) = {format_number(row['p_holm'])}"
    else:
        text = (
            f"{head}, 95 % interval [{_number(row['ci_low'])}, {_number(row['ci_high'])}]"
            f"{html.escape(need)}"
        )
    if brief:
        return text
    p = "" if _missing(row.get("p_value")) else f", p = {format_number(row['p_value'])}"
    if not _missing(row.get("p_holm")):
        p += f" (Holm {format_number(row['p_holm'])})"
    return f"{text}{p} (n = {format_number(row['n'])} {html.escape(str(row['unit']))})" + (
        f"; {html.escape(detail)}" if detail else ""
    )


def _claims(findings: pd.DataFrame):
    """(claim number, claim, source, its rows) in the order of the claim numbers."""
    for claim_id, rows in findings.groupby("claim_id", sort=True):
        first = rows.iloc[0]
        yield int(claim_id), str(first["claim"]), str(first["source"]), rows


def verdict_counts(findings: pd.DataFrame) -> str:
    """'3 supported, 1 contradicted, 6 inconclusive' (the verdicts present, in that order)."""
    counts = findings["verdict"].value_counts()
    order = [*VERDICT_COLOURS, *sorted(set(counts.index) - set(VERDICT_COLOURS))]
    return ", ".join(f"{counts[v]} {v}" for v in order if v in counts)


def findings_answer(findings: pd.DataFrame) -> str:
    """The verdicts claim by claim, every row of the findings table (HTML block)."""
    parts = []
    for claim_id, claim, source, rows in _claims(findings):
        items = "".join(f"<li>{verdict_sentence(r)}</li>" for _, r in rows.iterrows())
        parts.append(
            f"<h2>Claim {claim_id}: {html.escape(claim)} ({html.escape(source)})</h2>"
            f'<ul class="rows">{items}</ul>'
        )
    return "\n".join(parts)


def report_link(path: str) -> str:
    """An ``href`` that opens the report item ``path`` (its path as the workflow names it):
    its panel in the report's sidebar, and the item itself in the main view."""
    p = json.dumps(str(path))
    script = (
        f"app.showResultInfo({p});"
        f"app.setView({{content:'html',contentPath:results[{p}].data_uri,resultPath:{p}}});"
        "void 0"
    )
    return "javascript:" + urllib.parse.quote(script, safe="(){}[]:;,.'=_ ")


def _row_count(findings: pd.DataFrame) -> str:
    """'37 tests and 2 every-model summaries', or 'N tests' without a role column."""
    if "role" not in findings:
        return f"{len(findings)} tests"
    tests = int((findings["role"] == "test").sum())
    summaries = len(findings) - tests
    return f"{tests} tests" + (f" and {summaries} every-model summaries" if summaries else "")


def verdicts_fragment(
    findings: pd.DataFrame,
    *,
    dataset: str,
    models: Iterable[str],
    table_path: str,
) -> str:
    """The front page's verdicts of one dataset (an HTML fragment, inline styles only: it
    is placed inside the report's own page).

    Claim by claim, the rows of the findings table that pool over the models, each with its
    statistic and 95 % interval; the rows of single models are counted by verdict (the
    findings table, linked, gives them).
    """
    models = set(models)

    def per_model(scope: str) -> bool:
        return scope.rpartition(", ")[2] in models and ", " in scope

    claims = []
    for claim_id, claim, source, rows in _claims(findings):
        pooled = rows[~rows["scope"].map(per_model)]
        single = rows[rows["scope"].map(per_model)]
        items = [f"<li>{verdict_sentence(r, brief=True)}</li>" for _, r in pooled.iterrows()]
        if not single.empty:
            items.append(f"<li>single models: {verdict_counts(single)}</li>")
        claims.append(
            f'<li value="{claim_id}"><b>{html.escape(claim)}</b> ({html.escape(source)})'
            f'<ul style="margin:.1em 0 .3em">{"".join(items)}</ul></li>'
        )
    link = html.escape(report_link(table_path), quote=True)
    return (
        f'<div class="neuralhull-verdicts" data-dataset="{html.escape(dataset)}">'
        f"<p><b>{html.escape(dataset)}</b>: {verdict_counts(findings)} "
        f"({_row_count(findings)} of {findings['claim_id'].nunique()} claims). "
        f'<a href="{link}">Open the findings table</a></p>'
        f'<ol style="margin-top:.2em">{"".join(claims)}</ol></div>\n'
    )


# ---------------------------------------------------------------------------------------------
# writing


def write_text(text: str, path) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)


#: A line under each page's title: what the table holds.
TITLES = {
    "findings": "the papers' claims, tested on this run",
    "sensitivity": "how the verdicts move with the thresholds",
    "datasets": "claim by claim, whether the datasets reach the same verdicts",
    "zoo": "the zoo: one row per model, over its seeds",
    "models": "every trained classifier (model and seed)",
    "latent": "autoencoder fits: one row per run and latent size",
    "hull": "hull membership per run and space",
    "measures": "AUROC of each measure for flagging test errors, per run and space",
    "deciles": "test accuracy in rank bins of each measure, per run and space",
}


def write_pages(
    tables: Mapping[str, pd.DataFrame],
    pages: Mapping[str, str],
    *,
    dataset: str,
    provenance: Mapping[str, object],
    verdicts: str | None = None,
) -> None:
    """Write each table in ``pages`` (table name -> HTML path) as a page, and, when
    ``verdicts`` names a path, the front page's fragment of the findings there."""
    for name, path in pages.items():
        df = tables[name]
        before = findings_answer(df) if name == "findings" and not df.empty else ""
        if before:
            before = f'<p class="note">{verdict_counts(df)}.</p>{before}<h2>The table</h2>'
        write_text(
            table_page(
                df,
                title=f"{name}: {dataset}",
                provenance={"table": name, "dataset": dataset, **provenance},
                before=before,
                note=html.escape(TITLES.get(name, ""))
                + "; numbers rounded to 4 significant digits (the TSV has them in full).",
            ),
            path,
        )
    if verdicts is not None:
        findings = tables["findings"]
        models = tables["models"]["model"] if "model" in tables["models"] else []
        text = (
            verdicts_fragment(
                findings, dataset=dataset, models=models, table_path=pages["findings"]
            )
            if not findings.empty
            else f"<p><b>{html.escape(dataset)}</b>: no claim could be tested.</p>\n"
        )
        write_text(text, verdicts)
