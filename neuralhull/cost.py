"""The jobs' cost model: the runtime (minutes) and memory (MB) each job asks of a scheduler.

A cluster kills a job that outlives its runtime or exceeds its memory, and a job that asks
for far more than it needs waits longer in the queue, so each request grows with the work
the job does: images x pixels x epochs for training, queries x training points x dimension
for the hull engine. The unit costs come from the default run's ``benchmark:`` files on a
2-core laptop CPU (docs/cluster.md); :data:`RUNTIME_SAFETY` pads them for slower nodes, and
a retried job (``attempt`` 2, 3, ...) asks for that much more again.

Every function here takes plain numbers (a dataset's :class:`DataSize`, a model's config
entry, the config's settings) and knows nothing of Snakemake: ``workflow/rules/resources.smk``
reads a job's wildcards and the config and calls these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from neuralhull.config_checks import split_sizes

# ---- runtime requests ----
RUNTIME_SAFETY = 4  # runtime = RUNTIME_SAFETY x the estimated CPU time: slower nodes
MIN_RUNTIME = 10  # minutes: scheduling and Python start-up dominate small jobs
GPU_SPEEDUP = 10  # torch steps on a GPU (device: cuda) are at least this much faster
STARTUP_S = 30  # seconds of start-up (imports, reading the data), once per job

# Seconds per training image, per input value (pixels x channels), per epoch, on CPU, for
# the smallest network of each architecture (mlp 64 x 2, cnn and convnet 8 channels).
TRAIN_UNIT = {"mlp": 1.0e-7, "cnn": 1.5e-7, "convnet": 1.5e-7, "resnet18": 2.0e-6}
# Autoencoders: seconds per (epoch x image x summed code-and-activation width x hidden unit).
AUTOENCODER_UNIT = 2e-9
# Hull engine: the preprocessing passes over the training values, then about one pass over
# them per query, plus a fixed cost per query that dominates in low dimension.
HULL_PREPARE_S_PER_VALUE = 1e-7
HULL_QUERY_S_PER_VALUE = 2e-9
HULL_QUERY_S = 5e-3
# Nearest neighbours: brute force in high dimension, per training x test x dimension value.
PROXIMITY_S_PER_VALUE = 1e-10
# Monte Carlo hull probabilities: per query, per (d, N) cell and per training value.
PROBABILITY_QUERY_S_PER_CELL = 3e-4
PROBABILITY_QUERY_S_PER_VALUE = 1e-8

# ---- memory requests (MB) ----
PYTHON_MB = 1000  # interpreter, NumPy and SciPy
TORCH_MB = 1500  # the same with torch loaded
TORCH_DATA_COPIES = 8  # float32 copies of the whole dataset a torch job may hold at once
HULL_ENGINE_COPIES = 16  # float64 copies of the training points the hull engine keeps
HULL_LOADED_COPIES = 2  # float64 copies of the array a hull job reads (pixels, activations)
PROXIMITY_LOADED_COPIES = 8  # float64 copies of the array a neighbour search reads
PROXIMITY_BLOCK = 1024  # queries per block of query-to-training distances
PROXIMITY_BLOCK_COPIES = 3  # float64 arrays of one block's size held at once


@dataclass(frozen=True)
class DataSize:
    """The size of a dataset's train and test split and of one image."""

    n_train: int
    n_test: int
    dimension: int  # values per image: channels x height x width

    @property
    def n_total(self) -> int:
        return self.n_train + self.n_test

    @classmethod
    def from_shape(cls, shape: Sequence, config: Mapping) -> DataSize:
        """From ``(channels, height, width, images, standard test images or None)``, split
        as the workflow splits it (:func:`neuralhull.config_checks.split_sizes`)."""
        n_train, n_test = split_sizes(config, shape)
        return cls(n_train, n_test, shape[0] * shape[1] * shape[2])


def minutes(seconds: float, attempt: int, *, gpu_seconds: float = 0.0, gpu: bool = False) -> int:
    """Runtime request in minutes: ``seconds`` of estimated CPU work, of which
    ``gpu_seconds`` run :data:`GPU_SPEEDUP` times faster when the job has a GPU."""
    if gpu:
        seconds -= gpu_seconds * (1 - 1 / GPU_SPEEDUP)
    return max(MIN_RUNTIME, math.ceil(RUNTIME_SAFETY * seconds / 60)) * attempt


def training_seconds(spec: dict, n_train: int, dimension: int) -> float:
    """CPU seconds of one training run (all epochs, or the images a step budget sees) of a
    model's config entry (arch, width, depth, channels, epochs, steps, batch_size)."""
    unit = TRAIN_UNIT[spec["arch"]]
    if spec["arch"] == "cnn":
        unit *= max(1.0, spec["channels"] / 8) ** 2 * max(1, spec["depth"] - 1)
    elif spec["arch"] == "convnet":  # its second convolution runs before the pool: 4x
        unit *= 4 * max(1.0, spec["channels"] / 8) ** 2
    elif spec["arch"] == "mlp":
        unit *= max(1.0, spec["width"] * spec["depth"] / 128)
    epochs = spec["epochs"]
    if spec.get("steps"):
        epochs = spec["steps"] * spec["batch_size"] / n_train
    return epochs * n_train * dimension * unit


def hull_seconds(n_train: int, n_test: int, dimension: int, max_queries: int | None) -> float:
    """CPU seconds of one job scoring up to ``max_queries`` test samples (None: all) against
    the hull of ``n_train`` points in ``dimension``, start-up included."""
    queries = n_test if max_queries is None else min(max_queries, n_test)
    return (
        STARTUP_S
        + HULL_PREPARE_S_PER_VALUE * n_train * dimension
        + queries * (HULL_QUERY_S_PER_VALUE * n_train * dimension + HULL_QUERY_S)
    )


def hull_mem(n_train: int, dimension: int, n_loaded: int, loaded_dimension: int) -> int:
    """MB of a hull job: the engine's copies of the training points, and the job's copies of
    the ``(n_loaded, loaded_dimension)`` array it reads (pixels or activations)."""
    engine = HULL_ENGINE_COPIES * n_train * dimension * 8 / 1e6
    loaded = HULL_LOADED_COPIES * n_loaded * loaded_dimension * 8 / 1e6
    return math.ceil(PYTHON_MB + engine + loaded)


def space_dimension(
    space: str, *, input_dimension: int, hidden: int | None, largest_latent: int | None
) -> int:
    """Dimension of a scored space (``input``, ``activation``, ``intrinsic``,
    ``input-pca{k}``, ``activation-pca{k}``, ``latent{k}``); the intrinsic space is chosen at
    run time, so it is costed at the largest latent size."""
    if space == "input":
        return input_dimension
    if space == "activation":
        return hidden
    if space == "intrinsic":
        return largest_latent
    for prefix in ["input-pca", "activation-pca", "latent"]:
        if space.startswith(prefix):
            return int(space.removeprefix(prefix))
    raise ValueError(
        f"unknown space {space!r}: expected input, activation, intrinsic or a sized one"
    )


# ---- the workflow's jobs ----


def train_runtime(data: DataSize, spec: dict, attempt: int, *, gpu: bool) -> int:
    """Training, then one forward pass over train and test that scores the model and keeps
    its last hidden layer (about half an epoch's cost over all the data)."""
    seconds = training_seconds(spec, data.n_train, data.dimension)
    forward = training_seconds({**spec, "epochs": 1, "steps": None}, data.n_total, data.dimension)
    seconds += forward / 2
    return minutes(STARTUP_S + seconds, attempt, gpu_seconds=seconds, gpu=gpu)


def torch_data_mem(data: DataSize, attempt: int) -> int:
    """MB of a torch job holding the dataset: the framework, plus float32 copies of it."""
    data_mb = data.n_total * data.dimension * 4 / 1e6
    return math.ceil(TORCH_MB + TORCH_DATA_COPIES * data_mb) * attempt


def autoencoder_runtime(
    data: DataSize, hidden: int, sizes: list[int], fit: dict, attempt: int, *, gpu: bool
) -> int:
    """Every latent size of a run in one batched fit on the ``hidden``-wide activations;
    ``fit``: the config's ``autoencoder`` section (its ``epochs`` and ``hidden``)."""
    width = len(sizes) * hidden + sum(sizes)
    seconds = AUTOENCODER_UNIT * fit["epochs"] * data.n_train * width * fit["hidden"]
    return minutes(STARTUP_S + seconds, attempt, gpu_seconds=seconds, gpu=gpu)


def autoencoder_mem(data: DataSize, hidden: int, attempt: int) -> int:
    """MB: torch, and float32 copies of every image's activations."""
    return math.ceil(TORCH_MB + TORCH_DATA_COPIES * data.n_total * hidden * 4 / 1e6) * attempt


def proximity_seconds(data: DataSize, dimension: int) -> float:
    return STARTUP_S + PROXIMITY_S_PER_VALUE * data.n_train * data.n_test * dimension


def proximity_mem(data: DataSize, loaded_dimension: int) -> int:
    """MB: the array the job reads, and the blocks of query-to-training distances of the
    brute-force search."""
    loaded = PROXIMITY_LOADED_COPIES * data.n_total * loaded_dimension * 8 / 1e6
    blocks = PROXIMITY_BLOCK_COPIES * PROXIMITY_BLOCK * data.n_train * 8 / 1e6
    return math.ceil(PYTHON_MB + loaded + blocks)


def score_runtime(data: DataSize, dimension: int, max_queries: int | None, attempt: int) -> int:
    """A space's hull membership, then its proximity, in one job."""
    hull = hull_seconds(data.n_train, data.n_test, dimension, max_queries)
    return minutes(hull + proximity_seconds(data, dimension), attempt)


def score_mem(data: DataSize, dimension: int, loaded_dimension: int, attempt: int) -> int:
    """The larger of the two stages: the hull engine's arrays are freed before the neighbour
    search starts. ``loaded_dimension``: the array the job reads (pixels or activations)."""
    hull = hull_mem(data.n_train, dimension, data.n_total, loaded_dimension)
    return max(hull, proximity_mem(data, loaded_dimension)) * attempt


def theory_real_runtime(
    data: DataSize, dimensions: list[int], max_queries: int | None, attempt: int
) -> int:
    """Every target dimension of a method in one job: one hull pass per dimension, the
    start-up once."""
    seconds = STARTUP_S + sum(
        hull_seconds(data.n_train, data.n_test, k, max_queries) - STARTUP_S for k in dimensions
    )
    return minutes(seconds, attempt)


def theory_real_mem(data: DataSize, dimensions: list[int], attempt: int) -> int:
    """The largest target dimension's hull engine (one dimension's arrays at a time)."""
    return hull_mem(data.n_train, max(dimensions), data.n_total, data.dimension) * attempt


def theory_bottleneck_runtime(
    data: DataSize, spec: dict, attempt: int, *, shared_trunk: bool, gpu: bool
) -> int:
    """Training a bottleneck network (the config's ``theory.embedding`` entry); a shared
    trunk trains every bottleneck size at once, about twice one network."""
    seconds = training_seconds(spec, data.n_train, data.dimension)
    if shared_trunk:
        seconds *= 2
    return minutes(STARTUP_S + seconds, attempt, gpu_seconds=seconds, gpu=gpu)


def theory_embedding_runtime(
    data: DataSize, sizes: list[int], readings: int, max_queries: int | None, attempt: int
) -> int:
    """Every bottleneck size and reading of a dataset in one job."""
    seconds = STARTUP_S + readings * sum(
        hull_seconds(data.n_train, data.n_test, k, max_queries) - STARTUP_S for k in sizes
    )
    return minutes(seconds, attempt)


def theory_embedding_mem(data: DataSize, sizes: list[int], attempt: int) -> int:
    """The largest bottleneck's hull engine (one size's arrays at a time)."""
    k = max(sizes)
    return hull_mem(data.n_train, k, data.n_total, k) * attempt


def theory_probability_seconds(grid: dict) -> float:
    """CPU seconds of Monte Carlo hull probabilities over the config's
    ``theory.hull_probability`` grid (trials x queries per set at every (dimension, size)
    cell)."""
    queries = grid["trials"] * grid["queries_per_set"]
    cells = len(grid["dimensions"]) * len(grid["sizes"])
    values = sum(grid["sizes"]) * sum(grid["dimensions"])
    return STARTUP_S + queries * (
        PROBABILITY_QUERY_S_PER_CELL * cells + PROBABILITY_QUERY_S_PER_VALUE * values
    )


def theory_probability_runtime(grid: dict, attempt: int) -> int:
    return minutes(theory_probability_seconds(grid), attempt)
