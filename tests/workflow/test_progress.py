"""Long jobs report progress in their logs: per-epoch training lines with the loss, and hull
lines with the queries done and a rate, read from the logs of a real run (``tiny_run``).

Loose about wording, strict about meaning: epochs count up to the configured number, losses
are finite numbers, query counts never go back, end at the number of queries the job said it
had, and come with a positive rate.
"""

import ast
import itertools
import math
import re

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.workflow
TINY = yaml.safe_load((ROOT / "config/tiny.yaml").read_text())
NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"
EPOCH = re.compile(rf"\bepoch (\d+)/(\d+)\b.*?\bloss\s*[:=]?\s*({NUMBER})", re.I)
PROGRESS = re.compile(rf"(\d+)/(\d+) done\b.*?({NUMBER})\s*/\s*s\b")


def _epoch_lines(path):
    """(epoch, epochs, loss) of each line of ``path`` that reports a finished epoch."""
    return [
        (int(m[1]), int(m[2]), float(m[3]))
        for line in path.read_text().splitlines()
        if (m := EPOCH.search(line))
    ]


def test_training_logs_a_loss_for_every_epoch(tiny_run):
    for model, seed in itertools.product(TINY["models"], TINY["seeds"]):
        log = tiny_run / "logs" / "train_model" / "digits" / model["name"] / f"seed{seed}.log"
        n_epochs = model.get("epochs")
        if model.get("steps"):  # a step budget trains the epochs its steps need
            batches = int(re.search(r"(\d+) batches/epoch", log.read_text())[1])
            n_epochs = -(-model["steps"] // batches)
        lines = _epoch_lines(log)
        assert [(e, n) for e, n, _ in lines] == [(e, n_epochs) for e in range(1, n_epochs + 1)], (
            log.read_text()[-2000:]
        )
        assert all(math.isfinite(loss) and loss >= 0 for _, _, loss in lines), lines


def test_autoencoder_logs_its_first_and_last_epoch_with_a_loss(tiny_run):
    n_epochs = TINY["autoencoder"]["epochs"]
    logs = sorted((tiny_run / "logs" / "fit_autoencoder").rglob("*.log"))
    assert logs
    for log in logs:
        lines = _epoch_lines(log)
        assert {1, n_epochs} <= {e for e, _, _ in lines}, log.read_text()[-2000:]
        assert {n for _, n, _ in lines} == {n_epochs}
        assert all(math.isfinite(loss) and loss >= 0 for _, _, loss in lines), lines


def _progress(lines, what):
    """(done, total, rate) of the progress lines about ``what``."""
    return [
        (int(m[1]), int(m[2]), float(m[3]))
        for line in lines
        if what in line and (m := PROGRESS.search(line))
    ]


def _check_counts(progress, expected_total, log):
    assert progress, f"no progress line in {log}"
    assert {total for _, total, _ in progress} == {expected_total}, progress
    done = [d for d, _, _ in progress]
    assert done == sorted(done) and done[-1] == expected_total, progress
    assert all(math.isfinite(rate) and rate > 0 for _, _, rate in progress), progress


def test_scoring_logs_queries_done_and_a_rate(tiny_run):
    logs = sorted((tiny_run / "logs").glob("score*/**/*.log"))
    assert len(logs) >= 5, logs
    checked_distance = False
    for log in logs:
        lines = log.read_text().splitlines()
        # the job announces how many queries it has; its progress must count to exactly that
        announced = re.search(r"\b(\d+)/(\d+) queries\b", lines[0])
        assert announced, (log, lines[:1])
        queries = int(announced[1])
        assert 0 < queries <= TINY["hull"]["max_queries"]
        # one engine pass settles membership and distance: its progress counts every query
        _check_counts(_progress(lines, "membership and distance"), queries, log)
        counts = next(
            ast.literal_eval(m[0])
            for line in lines
            if (m := re.search(r"\{'inside': \d+, 'outside': \d+, 'undecided': \d+\}", line))
        )
        assert sum(counts.values()) == queries, (log, counts)
        checked_distance |= counts["outside"] > 0
        # the same job then finds every test sample's neighbours
        _check_counts(_progress(lines, "nearest-neighbour queries"), int(announced[2]), log)
    assert checked_distance, "no space had a query outside its hull: distance progress untested"
    # every hull job says whether it compiled the solver or loaded it from numba's cache
    said = [
        next((line for line in log.read_text().splitlines() if "compiled solver" in line), "")
        for log in logs
    ]
    compiled = r"compiled solver (compiled( \(no cache entry yet\))?|loaded from the cache) in"
    assert all(re.search(compiled, s) for s in said), said
