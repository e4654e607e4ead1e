"""Faults in the workflow's own array files (activations, latent codes, embeddings): a
truncated or corrupt archive, or NaN in it, stops the job that reads it with one error
naming the file, the rule that writes it and the command that remakes it; the hull and PCA
steps never see a NaN. And integers that float64 cannot hold are refused by the hull API."""

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from neuralhull.hull import (
    hull_distance,
    hull_scale,
    in_hull,
    membership,
    membership_and_distance,
)
from neuralhull.io import ARRAY_FILE_RULES, ArrayFileError, array_file_rule, load_arrays, save_npz
from neuralhull.spaces import load_space
from tests.conftest import ROOT, run_snakemake

RUN = "results/digits/mlp/seed0"
ACTIVATIONS = f"{RUN}/activations.npz"
CODES = f"{RUN}/latent/codes.npz"


def _write_activations(root: Path, **change) -> Path:
    """An activations.npz as train_model writes it (uncompressed), at its workflow path."""
    rng = np.random.default_rng(0)
    arrays = {
        "train": rng.random((60, 16), dtype=np.float32),
        "test": rng.random((20, 16), dtype=np.float32),
        "y_train": rng.integers(0, 10, 60),
        "y_test": rng.integers(0, 10, 20),
        "pred_train": rng.integers(0, 10, 60),
        "pred_test": rng.integers(0, 10, 20),
    }
    arrays.update(change)
    path = root / ACTIVATIONS
    save_npz(path, compress=False, **arrays)
    return path


def _write_codes(root: Path, **change) -> Path:
    rng = np.random.default_rng(1)
    arrays = {f"{part}{k}": rng.random((n, k)) for part, n in [("train", 60), ("test", 20)]
              for k in (1, 2)}  # fmt: skip
    arrays.update(change)
    path = root / CODES
    save_npz(path, compress=False, **arrays)
    return path


def _assert_names_the_fix(message: str, path: Path, rule: str) -> None:
    assert str(path) in message
    assert f"rule {rule}" in message
    assert f"`snakemake --force {path}`" in message


def test_truncated_activations_name_file_rule_and_remake_command(tmp_path):
    path = _write_activations(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArrayFileError, match="truncated or corrupt") as err:
        load_arrays(path)
    _assert_names_the_fix(str(err.value), path, "train_model")
    # the hull and PCA jobs read it through load_space: the same error, not BadZipFile
    for space in ("activation", "activation-pca2"):
        with pytest.raises(ArrayFileError, match="truncated or corrupt"):
            load_space(space, activations=str(path))


@pytest.mark.parametrize("keep", [0, 30])
def test_empty_or_headless_activations_are_damaged(tmp_path, keep):
    path = _write_activations(tmp_path)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(ArrayFileError, match="truncated or corrupt") as err:
        load_arrays(path, ["train"])
    _assert_names_the_fix(str(err.value), path, "train_model")


def test_flipped_bytes_inside_an_array_fail_the_archive_check(tmp_path):
    path = _write_activations(tmp_path, train=np.full((60, 16), 0.25, dtype=np.float32))
    data = bytearray(path.read_bytes())
    at = data.find(np.float32(0.25).tobytes() * 8) + 100  # inside the train array's data
    data[at] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(ArrayFileError, match=r"array 'train' cannot be read.*CRC") as err:
        load_arrays(path, ["train"])
    _assert_names_the_fix(str(err.value), path, "train_model")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_activations_never_reach_hull_or_pca(tmp_path, bad):
    train = np.random.default_rng(2).random((60, 16), dtype=np.float32)
    train[7, 3] = bad
    path = _write_activations(tmp_path, train=train)
    name = "NaN" if np.isnan(bad) else "inf"
    counts = "1 NaN and 0 inf" if name == "NaN" else "0 NaN and 1 inf"
    for space in ("activation", "activation-pca2"):  # the hull job's and the PCA job's path
        with pytest.raises(ArrayFileError) as err:
            load_space(space, activations=str(path))
        message = str(err.value)
        assert f"array 'train' (60, 16) holds {counts} values (the first at index (7, 3))" in (
            message
        )
        _assert_names_the_fix(message, path, "train_model")
        assert "logs/train_model/" in message
    # the labels of the same file are still readable: only what is read is judged
    assert load_arrays(path, ["y_test"])["y_test"].shape == (20,)


def test_nan_in_latent_codes_names_the_autoencoder_rule(tmp_path):
    train2 = np.random.default_rng(3).random((60, 2))
    train2[11, 1] = np.nan
    path = _write_codes(tmp_path, train2=train2)
    with pytest.raises(ArrayFileError, match=r"array 'train2' \(60, 2\) holds 1 NaN") as err:
        load_space("latent2", codes=str(path))
    _assert_names_the_fix(str(err.value), path, "fit_autoencoder")
    train, _ = load_space("latent1", codes=str(path))  # another size of the file is sound
    assert train.shape == (60, 1)


def test_missing_array_or_file_names_the_fix(tmp_path):
    path = _write_codes(tmp_path)
    with pytest.raises(ArrayFileError, match=r"holds no array 'train4', 'test4'") as err:
        load_space("latent4", codes=str(path))
    _assert_names_the_fix(str(err.value), path, "fit_autoencoder")
    gone = tmp_path / ACTIVATIONS
    with pytest.raises(ArrayFileError, match="no such file") as err:
        load_arrays(gone)
    _assert_names_the_fix(str(err.value), gone, "train_model")


def test_sound_file_reads_back_exactly(tmp_path):
    path = _write_activations(tmp_path)
    with np.load(path) as f:
        expected = {k: f[k] for k in f.files}
    got = load_arrays(path)
    assert list(got) == list(expected)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype and np.array_equal(got[key], value)


def test_an_explicit_rule_wins_and_unknown_files_still_get_a_command(tmp_path):
    path = tmp_path / "results/theory/embedding/digits/8/embeddings.npz"
    save_npz(path, train=np.array([[np.nan]]))
    with pytest.raises(ArrayFileError) as err:
        load_arrays(path, rule="theory_train_bottlenecks")
    _assert_names_the_fix(str(err.value), path, "theory_train_bottlenecks")
    other = tmp_path / "elsewhere.npz"
    save_npz(other, x=np.array([np.inf]))
    with pytest.raises(ArrayFileError, match=r"workflow output; remake it with `snakemake"):
        load_arrays(other)


def _rule_outputs(rule: str) -> list[str]:
    """The .npz output patterns of ``rule`` as written in workflow/rules/*.smk."""
    text = "\n".join(p.read_text() for p in sorted((ROOT / "workflow/rules").glob("*.smk")))
    block = re.search(rf"^\s*rule {rule}:\n(.*?)(?=^\s*rule |\Z)", text, re.M | re.S)
    assert block, f"no rule {rule} in workflow/rules"
    output = block.group(1).split("output:", 1)[1].split("log:", 1)[0]
    return re.findall(r'"([^"]+\.npz)"', output)


@pytest.mark.parametrize(
    "rule", sorted({r for _, r in ARRAY_FILE_RULES} | {"theory_train_bottlenecks"})
)
def test_path_patterns_match_the_rules_outputs(rule):
    """The loader's path -> rule table follows the rules' real output paths."""
    outputs = _rule_outputs(rule)
    assert outputs, f"rule {rule} writes no .npz"
    for pattern in outputs:
        path = re.sub(r"\{+(\w+)\}+", lambda m: {"seed": "0", "k": "8"}.get(m[1], "x"), pattern)
        # the shared-trunk rule writes the same files; its job passes rule= itself
        expected = "theory_train_bottleneck" if rule == "theory_train_bottlenecks" else rule
        assert array_file_rule(path) == expected, path
        assert array_file_rule(f"/some/run/{path}") == expected


# Integers beyond float64: the engine works in float64 and must not round them silently.

BIG = [[2**60], [2**60 + 2]]
BEYOND = 2**53 + 1  # the first integer float64 cannot represent


def test_the_rounded_example_is_refused():
    """1-D hull [2^60, 2^60 + 2]: 2^60 + 3 is outside, but float64 makes all three equal."""
    for points, queries in [
        (np.array(BIG), np.array([[2**60 + 3]])),
        (BIG, [[2**60 + 3]]),  # Python ints in lists
        (np.array(BIG, dtype=np.uint64), np.array([[2**60 + 3]], dtype=np.uint64)),
    ]:
        with pytest.raises(ValueError, match=r"points hold the integer 1152921504606846978"):
            membership(points, queries)
    # verify() of a result computed on the rounded floats refuses the integers too
    res = membership(np.array(BIG, dtype=np.float64), np.array([[2.0**60]]))
    with pytest.raises(ValueError, match=r"beyond 2\*\*53 must be scaled .* or given as floats"):
        res.verify(np.array(BIG), np.array([[2**60 + 3]]))


@pytest.mark.parametrize(
    "call",
    [
        lambda p, q: membership(p, q),
        lambda p, q: in_hull(p, q),
        lambda p, q: hull_distance(p, q),
        lambda p, q: membership_and_distance(p, q),
    ],
    ids=["membership", "in_hull", "hull_distance", "membership_and_distance"],
)
@pytest.mark.parametrize(
    "where, points, queries",
    [
        ("points", np.array([[0, 1], [BEYOND, 1]]), np.array([[0, 1]])),
        ("queries", np.array([[0, 1], [2**53, 1]]), np.array([[-BEYOND, 1]])),
        ("queries", np.array([[0], [1]], dtype=np.uint64), np.array([[BEYOND]], dtype=np.uint64)),
        ("points", [[0.5, 1.0], [BEYOND, 2]], [[1, 1]]),  # a Python int among floats
        ("points", np.array([[2**70 + 1], [0]], dtype=object), [[1]]),  # beyond int64
        ("queries", [[0], [1]], [[10**400]]),  # beyond the largest float64
    ],
)
def test_integers_beyond_2_53_are_refused_naming_the_argument(call, where, points, queries):
    with pytest.raises(ValueError) as err:
        call(points, queries)
    message = str(err.value)
    assert message.startswith(f"{where} hold the integer ")
    assert "of magnitude above 2**53 (about 2**" in message
    assert "Values beyond 2**53 must be scaled (e.g. subtract a common offset) or given as " in (
        message
    )


def test_hull_scale_refuses_them_too():
    with pytest.raises(ValueError, match=r"points hold the integer 9007199254740993,"):
        hull_scale(np.array([[0], [BEYOND]]))


def test_integers_up_to_2_53_give_the_exact_answer():
    """At 2^53 every integer is still a float64: accepted, and the answers are the 1-D
    hull's, decided here in exact integer arithmetic."""
    top = 2**53
    points = [[top - 2**20], [top - 2**10], [top]]
    queries = [[top], [top - 5], [top - 2**20 - 2**10], [top - 2**20 + 1]]
    lo, hi = top - 2**20, top
    truth = np.array([lo <= q[0] <= hi for q in queries])
    for p, q in [
        (np.array(points), np.array(queries)),
        (points, queries),
        (np.array(points, dtype=np.uint64), np.array(queries, dtype=np.uint64)),
        (np.array(points, dtype=object), np.array(queries, dtype=object)),
    ]:
        res = membership(p, q)
        assert res.n_undecided == 0
        np.testing.assert_array_equal(res.inside, truth)
        assert res.verify(p, q).all()
        # the same result, bit for bit, as the float64 numbers they are exactly
        ref = membership(np.array(points, dtype=np.float64), np.array(queries, dtype=np.float64))
        for field in ("status", "weight_indices", "weight_values", "hyperplane_normal",
                      "hyperplane_offset", "residual", "margin", "method"):  # fmt: skip
            np.testing.assert_array_equal(getattr(res, field), getattr(ref, field))


def test_large_but_exact_integers_are_converted_exactly():
    """Beyond 2^53 float64 holds the even integers (to 2^54): they are the numbers given."""
    top = 2**53
    res = membership(np.array([[top + 2], [top + 6]]), np.array([[top + 4], [top + 2]]))
    assert res.inside.all()


# The workflow: a damaged activations.npz in a finished run.


@pytest.mark.workflow
def test_truncated_activations_stop_hull_and_pca_jobs_with_the_remake_command(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, copy_function=shutil.copy2)  # keeps every file's time
    damaged = run / ACTIVATIONS
    stat = damaged.stat()
    data = damaged.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    # damage that Snakemake cannot see: the same time, so only a forced job reads it
    os.utime(damaged, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    targets = [f"{RUN}/hull/activation.tsv", f"{RUN}/hull/activation-pca2.tsv"]
    proc = run_snakemake(run, *targets, "--force", "--cores", "2", check=False)
    assert proc.returncode != 0

    for space in ("activation", "activation-pca2"):
        log = (run / f"logs/score/digits/mlp/seed0/{space}.log").read_text()
        assert "neuralhull.io.ArrayFileError" in log, log[-2000:]
        assert f"{ACTIVATIONS}: not a complete .npz archive, the file is truncated" in log
        assert "It is written by rule train_model" in log
        assert f"`snakemake --force {ACTIVATIONS}`" in log
        # no raw zipfile traceback: the one error is the one that says what to do
        assert "zipfile.BadZipFile" not in log and "During handling" not in log
    # Snakemake shows the failed job's log, and the damaged file is left for the user
    assert f"`snakemake --force {ACTIVATIONS}`" in proc.stdout + proc.stderr
    assert damaged.read_bytes() == data[: len(data) // 2]

    # the command the message gives remakes the file, and the next run the rest: every
    # table is again exactly the uninterrupted run's
    command = re.search(r"`snakemake (--force \S+)`", log).group(1).split()
    run_snakemake(run, *command, "--cores", "2")
    run_snakemake(run, "--cores", "2")
    tables = sorted((tiny_run / "results").rglob("*.tsv"))
    assert len(tables) > 30
    for table in tables:
        assert (run / table.relative_to(tiny_run)).read_bytes() == table.read_bytes(), table
