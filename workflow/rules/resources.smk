# Resources each job asks of the scheduler (`runtime` in minutes, `mem_mb`), grown with the
# work it does. A cluster kills a job that outlives its runtime or exceeds its memory, and a
# job that asks for far more than it needs waits longer in the queue, so each request is a
# cost model whose unit costs come from the default run's `benchmark:` files on a 2-core
# laptop CPU (one MNIST epoch, one hull query, ...), times RUNTIME_SAFETY for slower nodes;
# a retried job (profiles/slurm sets `retries`) asks for that much more per attempt.
# tests/test_config.py checks that a finished tiny run stayed within every request.

import math

RUNTIME_SAFETY = 4  # runtime = SAFETY x estimated CPU time
MIN_RUNTIME = 10  # minutes: scheduling and Python start-up dominate small jobs
GPU_SPEEDUP = 10  # torch steps on a GPU (device: cuda) are at least this much faster

# Images per dataset (train + test) and the standard test-set size (digits: split by
# `data.test_fraction`, as neuralhull.datasets does), from common.smk's DATASET_SHAPES.
DATASET_TOTAL = {name: shape[3] for name, shape in DATASET_SHAPES.items()}
STANDARD_TEST = {
    name: shape[4] for name, shape in DATASET_SHAPES.items() if shape[4] is not None
}

# Seconds per training image, per input value (pixels x channels), per epoch, on CPU.
# Measured: mlp (64 x 2) 2 s and cnn (8 channels) 7 s per MNIST epoch (47 M values).
TRAIN_UNIT = {"mlp": 1.0e-7, "cnn": 1.5e-7, "convnet": 1.5e-7, "resnet18": 2.0e-6}


def split_sizes(dataset):
    """(training images, test images) of a dataset."""
    total = DATASET_TOTAL[dataset]
    n_test = STANDARD_TEST.get(dataset) or math.ceil(
        total * config["data"]["test_fraction"]
    )
    return total - n_test, n_test


def _minutes(seconds, attempt, gpu_part=0.0):
    """Runtime request: seconds of estimated CPU work (of which `gpu_part` runs on the GPU
    when the config asks for one) -> minutes with the safety margin, per attempt."""
    if GPUS:
        seconds -= gpu_part * (1 - 1 / GPU_SPEEDUP)
    return max(MIN_RUNTIME, math.ceil(RUNTIME_SAFETY * seconds / 60)) * attempt


def _training_seconds(spec, n_train, dimension):
    """CPU seconds of one training run (all epochs) of a model spec."""
    unit = TRAIN_UNIT[spec["arch"]]
    if spec["arch"] == "cnn":
        unit *= max(1.0, spec["channels"] / 8) ** 2 * max(1, spec["depth"] - 1)
    elif spec["arch"] == "convnet":  # its second convolution runs before the pool: 4x
        unit *= 4 * max(1.0, spec["channels"] / 8) ** 2
    elif spec["arch"] == "mlp":
        unit *= max(1.0, spec["width"] * spec["depth"] / 128)
    epochs = spec["epochs"]
    if spec.get("steps"):  # a step budget: the images its steps see
        epochs = spec["steps"] * spec["batch_size"] / n_train
    return epochs * n_train * dimension * unit


def _data_mb(dataset, bytes_per_value=4):
    """Size of the whole dataset as an array of floats, in MB."""
    return DATASET_TOTAL[dataset] * INPUT_DIMENSION[dataset] * bytes_per_value / 1e6


def _hull_seconds(n_train, n_test, dimension, max_queries):
    """CPU seconds of scoring the test queries against the hull of n_train points: about a
    pass over the training points per query (2 ns per value; 5 ms per query in low
    dimension), plus the preprocessing passes."""
    queries = n_test if max_queries is None else min(max_queries, n_test)
    return (
        30 + 1e-7 * n_train * dimension + queries * (2e-9 * n_train * dimension + 5e-3)
    )


def _hull_mem(n_train, dimension, n_loaded, loaded_dimension):
    """MB: the engine keeps a few float64 copies of the training points (measured: 4.1 GB
    for MNIST pixels, 60,000 x 784), the job two of the arrays it reads (pixels for a
    PCA projection, activations for theirs)."""
    engine = 16 * n_train * dimension * 8 / 1e6
    loaded = 2 * n_loaded * loaded_dimension * 8 / 1e6
    return math.ceil(1000 + engine + loaded)


def space_dimension(wildcards):
    """Dimension of the space a hull or proximity job works in."""
    space = wildcards.get("space") or wildcards.get("input_space")
    if space == "input":
        return INPUT_DIMENSION[wildcards.dataset]
    if space == "activation":
        return hidden_size(wildcards.model)
    if space == "intrinsic":  # chosen at run time: at most the largest latent size
        return max(latent_sizes(wildcards.model))
    for prefix in ["input-pca", "activation-pca", "latent"]:
        if space.startswith(prefix):
            return int(space.removeprefix(prefix))
    raise ValueError(f"unknown space {space!r}")


# ---- the callables the rules name; Snakemake passes each job its wildcards and attempt ----


def train_runtime(wildcards, attempt):
    """Training, then one forward pass over train and test that scores the model and keeps
    its last hidden layer (about half an epoch's cost over all the data)."""
    n_train, _ = split_sizes(wildcards.dataset)
    spec = MODEL_SPECS[wildcards.model]
    dim = INPUT_DIMENSION[wildcards.dataset]
    seconds = _training_seconds(spec, n_train, dim)
    forward = _training_seconds(
        {**spec, "epochs": 1, "steps": None}, DATASET_TOTAL[wildcards.dataset], dim
    )
    seconds += forward / 2
    return _minutes(30 + seconds, attempt, gpu_part=seconds)


def torch_data_mem(wildcards, attempt):
    """MB for a torch step holding the dataset: the framework, plus copies of the data."""
    return math.ceil(1500 + 8 * _data_mb(wildcards.dataset)) * attempt


def autoencoder_runtime(wildcards, attempt):
    """Every latent size of a run in one batched fit. Measured: 5 epochs on 60,000
    activations of width 64 (hidden 128) in 2-4 s per size fitted alone."""
    n_train, _ = split_sizes(wildcards.dataset)
    ae = config["autoencoder"]
    sizes = latent_sizes(wildcards.model)
    width = len(sizes) * hidden_size(wildcards.model) + sum(sizes)
    seconds = 2e-9 * ae["epochs"] * n_train * width * ae["hidden"]
    return _minutes(30 + seconds, attempt, gpu_part=seconds)


def autoencoder_mem(wildcards, attempt):
    n_total = DATASET_TOTAL[wildcards.dataset]
    return (
        math.ceil(1500 + 8 * n_total * hidden_size(wildcards.model) * 4 / 1e6) * attempt
    )


def _hull_space_seconds(wildcards):
    n_train, n_test = split_sizes(wildcards.dataset)
    return _hull_seconds(
        n_train, n_test, space_dimension(wildcards), config["hull"]["max_queries"]
    )


def _proximity_seconds(wildcards):
    """Brute-force nearest neighbours in high dimension (measured: 18 s for MNIST pixels,
    60,000 x 10,000 x 784), a k-d tree in low dimension."""
    n_train, n_test = split_sizes(wildcards.dataset)
    return 30 + 1e-10 * n_train * n_test * space_dimension(wildcards)


def score_runtime(wildcards, attempt):
    """A space's hull membership, then its proximity, in one job."""
    return _minutes(
        _hull_space_seconds(wildcards) + _proximity_seconds(wildcards), attempt
    )


def loaded_dimension(wildcards):
    """Dimension of the array a scoring job reads: pixels for pixel spaces, the model's
    activations for the others."""
    if wildcards.get("input_space"):
        return INPUT_DIMENSION[wildcards.dataset]
    return hidden_size(wildcards.model)


def _hull_space_mem(wildcards):
    n_train, _ = split_sizes(wildcards.dataset)
    return _hull_mem(
        n_train,
        space_dimension(wildcards),
        DATASET_TOTAL[wildcards.dataset],
        loaded_dimension(wildcards),
    )


def _proximity_mem(wildcards):
    """MB: the array the job reads, and the blocks of query-to-training distances of the
    brute-force search (1,024 queries at a time; measured: 1.3 GB for 64-unit activations
    and 1.9 GB for MNIST pixels)."""
    n_train, _ = split_sizes(wildcards.dataset)
    n_total = DATASET_TOTAL[wildcards.dataset]
    loaded = 8 * n_total * loaded_dimension(wildcards) * 8 / 1e6
    blocks = 3 * 1024 * n_train * 8 / 1e6
    return math.ceil(1000 + loaded + blocks)


def score_mem(wildcards, attempt):
    """The larger of the two stages: the hull engine's arrays are freed before the
    neighbour search starts."""
    return max(_hull_space_mem(wildcards), _proximity_mem(wildcards)) * attempt


# ---- theory branch ----


def theory_real_runtime(wildcards, attempt):
    """Every target dimension of a method in one job: one hull pass per dimension, the
    fixed start-up cost once."""
    n_train, n_test = split_sizes(wildcards.dataset)
    queries = config["theory"]["real_data"]["max_queries"]
    seconds = 30 + sum(
        _hull_seconds(n_train, n_test, k, queries) - 30 for k in REAL_DIMENSIONS
    )
    return _minutes(seconds, attempt)


def theory_real_mem(wildcards, attempt):
    """The largest target dimension's hull engine (one dimension's arrays at a time)."""
    n_train, _ = split_sizes(wildcards.dataset)
    dataset = wildcards.dataset
    mb = _hull_mem(
        n_train, max(REAL_DIMENSIONS), DATASET_TOTAL[dataset], INPUT_DIMENSION[dataset]
    )
    return mb * attempt


def theory_bottleneck_runtime(wildcards, attempt):
    n_train, _ = split_sizes(wildcards.dataset)
    spec = config["theory"]["embedding"]
    seconds = _training_seconds(spec, n_train, INPUT_DIMENSION[wildcards.dataset])
    # shared trunk (no k wildcard): every k at once, about twice one network
    if "k" not in wildcards.keys():
        seconds *= 2
    return _minutes(30 + seconds, attempt, gpu_part=seconds)


def theory_embedding_runtime(wildcards, attempt):
    """Every bottleneck size and reading of a dataset in one job."""
    n_train, n_test = split_sizes(wildcards.dataset)
    queries = config["theory"]["real_data"]["max_queries"]
    readings = len(config["theory"]["embedding"]["readings"])
    seconds = 30 + readings * sum(
        _hull_seconds(n_train, n_test, k, queries) - 30 for k in EMBEDDING_SIZES
    )
    return _minutes(seconds, attempt)


def theory_embedding_mem(wildcards, attempt):
    """The largest bottleneck's hull engine (one size's arrays at a time)."""
    n_train, _ = split_sizes(wildcards.dataset)
    k = max(EMBEDDING_SIZES)
    return _hull_mem(n_train, k, DATASET_TOTAL[wildcards.dataset], k) * attempt


def theory_probability_runtime(wildcards, attempt):
    """Monte Carlo: per hull query about 0.3 ms plus 10 ns per training value (measured:
    29 s for 200 x 5 queries at each of 7 x 10 (d, N) cells, N up to 10,000)."""
    grid = config["theory"]["hull_probability"]
    queries = grid["trials"] * grid["queries_per_set"]
    cells = len(grid["dimensions"]) * len(grid["sizes"])
    values = sum(grid["sizes"]) * sum(grid["dimensions"])
    seconds = 30 + queries * (3e-4 * cells + 1e-8 * values)
    return _minutes(seconds, attempt)
