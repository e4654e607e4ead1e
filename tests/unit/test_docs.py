"""The README stays short, and the documentation does not drift from the tree: every
relative link reaches a file (and a heading, where it names one), the module table names
every module of the package, and the quoted cost plans are what the plan command prints."""

import math
import re

import pytest

from neuralhull.plan import build_plan
from tests.conftest import ROOT

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 160


def without_code(text: str) -> str:
    """Markdown text with fenced code blocks removed (their brackets are code, not links)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def heading_anchors(path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings: lower case, punctuation dropped,
    spaces turned into hyphens."""
    anchors = set()
    for line in without_code(path.read_text()).splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            title = m.group(1).strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def relative_links(path) -> list[str]:
    targets = re.findall(r"\]\(([^)\s]+)\)", without_code(path.read_text()))
    return [t for t in targets if not re.match(r"[a-z]+:", t)]  # http:, https:, mailto:


def test_readme_is_short():
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines (at most {MAX_README_LINES}): move details to docs/"
    )


def test_there_are_docs_and_the_readme_links_each_page():
    assert DOCS, "docs/*.md missing"
    linked = {(README.parent / t.split("#")[0]).resolve() for t in relative_links(README)}
    unlinked = [p.name for p in DOCS if p.resolve() not in linked]
    assert not unlinked, f"README.md links no page {unlinked}: add them to its Documentation list"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_and_heading(page):
    broken = []
    for target in relative_links(page):
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT)}")
        elif anchor and dest.suffix == ".md" and anchor not in heading_anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


def test_the_module_table_names_every_module():
    text = (ROOT / "docs/development.md").read_text()
    listed = set(re.findall(r"^\| `([\w.]+)` \|", text, flags=re.M))
    modules = {
        ".".join(p.relative_to(ROOT / "neuralhull").with_suffix("").parts)
        for p in (ROOT / "neuralhull").rglob("*.py")
    }
    modules = {m.removesuffix(".__init__") for m in modules if m != "__init__"}
    assert modules - listed == set(), "docs/development.md: modules missing from the table"
    assert listed - modules == set(), "docs/development.md: the table names modules that are gone"


def test_the_readmes_two_commands_are_make_targets():
    run_it = README.read_text().split("## Run it", 1)[1].split("```bash", 1)[1].split("```")[0]
    commands = [line.split("#")[0].strip() for line in run_it.strip().splitlines()]
    assert commands == ["make run", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    for target in ("run", "test"):
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"Makefile lacks `{target}:`"


@pytest.mark.workflow
def test_quoted_cost_plans_are_what_the_plan_command_prints(tmp_path):
    text = (ROOT / "docs/cluster.md").read_text()
    rows = re.findall(r"^\| `(config/\w+\.yaml)` \|(.*)\|\s*$", text, flags=re.M)
    assert {c for c, _ in rows} == {"config/tiny.yaml", "config/config.yaml", "config/paper.yaml"}
    for config, cells in rows:
        plan = build_plan([ROOT / config], profile=ROOT / "profiles/slurm", directory=tmp_path)
        printed = [
            str(plan.jobs),
            str(plan.submissions),
            f"{plan.gpu_hours:.1f}",
            f"{plan.cpu_hours:,.1f}",
            f"{math.ceil(plan.peak_mem_mb / 1000)} GB",
        ]
        quoted = [c.strip() for c in cells.split("|")][:5]
        assert quoted == printed, (
            f"docs/cluster.md quotes {quoted} for {config}; "
            f"python -m neuralhull.plan prints {printed}"
        )
        if config == "config/paper.yaml":
            sentence = f"({plan.submissions} sbatch submissions for the {plan.jobs} jobs of"
            assert sentence in " ".join(README.read_text().split()), sentence
