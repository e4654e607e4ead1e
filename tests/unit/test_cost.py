"""The cost model on its own: requests follow the work as its formulas say, a GPU shortens
only the torch part, retries ask for more, small jobs get the minimum, and no request falls
below the timings and memory peaks it was fitted to (docs/performance.md)."""

import math

import pytest

from neuralhull import cost

MNIST = cost.DataSize(n_train=60_000, n_test=10_000, dimension=784)
MLP = {"arch": "mlp", "width": 64, "depth": 2, "epochs": 1, "steps": None, "batch_size": 128}
CNN = {"arch": "cnn", "channels": 8, "depth": 2, "width": 64, "epochs": 1, "batch_size": 128}


def test_data_size_splits_as_the_workflow_does():
    # MNIST has a standard split; digits is split by data.test_fraction, ceil(1797 x 0.25)
    assert cost.DataSize.from_shape((1, 28, 28, 70000, 10000), {}) == MNIST
    digits = cost.DataSize.from_shape((1, 8, 8, 1797, None), {"data": {"test_fraction": 0.25}})
    assert (digits.n_train, digits.n_test, digits.dimension) == (1347, 450, 64)
    assert digits.n_total == 1797


def test_training_time_is_epochs_x_images_x_values():
    one = cost.training_seconds(MLP, 1000, 100)
    assert one == pytest.approx(1000 * 100 * cost.TRAIN_UNIT["mlp"])
    assert cost.training_seconds(MLP, 2000, 100) == pytest.approx(2 * one)
    assert cost.training_seconds(MLP, 1000, 300) == pytest.approx(3 * one)
    assert cost.training_seconds({**MLP, "epochs": 5}, 1000, 100) == pytest.approx(5 * one)
    # a wider or deeper network costs more, beyond the 64 x 2 that the unit was measured on
    assert cost.training_seconds({**MLP, "width": 128}, 1000, 100) == pytest.approx(2 * one)
    # a step budget: the images its steps see, whatever the training set's size
    steps = {**MLP, "epochs": 99, "steps": 50, "batch_size": 32}
    seen = 50 * 32 * 100 * cost.TRAIN_UNIT["mlp"]
    assert cost.training_seconds(steps, 1000, 100) == pytest.approx(seen)
    assert cost.training_seconds(steps, 5000, 100) == pytest.approx(seen)


def test_train_runtime_grows_with_the_training_set():
    small = cost.DataSize(6_000, 1_000, 784)
    assert cost.train_runtime(small, {**MLP, "epochs": 200}, 1, gpu=False) < cost.train_runtime(
        MNIST, {**MLP, "epochs": 200}, 1, gpu=False
    )


def test_a_gpu_divides_the_torch_part_only():
    # 30 s of start-up on the CPU, 9,001 s of torch work: 930.1 s with a GPU
    cpu = cost.minutes(30 + 9001, 1, gpu_seconds=9001, gpu=False)
    gpu = cost.minutes(30 + 9001, 1, gpu_seconds=9001, gpu=True)
    assert cpu == math.ceil(cost.RUNTIME_SAFETY * 9031 / 60)
    assert gpu == math.ceil(cost.RUNTIME_SAFETY * (30 + 9001 / cost.GPU_SPEEDUP) / 60)
    # the rules' torch jobs: training, autoencoders, bottlenecks; the hull's are CPU only
    spec = {**MLP, "epochs": 30}
    assert cost.train_runtime(MNIST, spec, 1, gpu=True) < cost.train_runtime(
        MNIST, spec, 1, gpu=False
    )
    fit = {"epochs": 50, "hidden": 128}
    on_gpu = cost.autoencoder_runtime(MNIST, 64, [2, 4, 64], fit, 1, gpu=True)
    assert on_gpu < cost.autoencoder_runtime(MNIST, 64, [2, 4, 64], fit, 1, gpu=False)


def test_small_jobs_get_the_minimum_and_retries_ask_for_more():
    assert cost.minutes(1.0, 1) == cost.MIN_RUNTIME
    assert cost.minutes(1.0, 3) == 3 * cost.MIN_RUNTIME
    assert cost.minutes(0.0, 1, gpu_seconds=1e6, gpu=True) == cost.MIN_RUNTIME  # never below
    for attempt in (2, 3):
        assert cost.score_runtime(MNIST, 784, None, attempt) == attempt * cost.score_runtime(
            MNIST, 784, None, 1
        )
        assert cost.score_mem(MNIST, 784, 784, attempt) == attempt * cost.score_mem(
            MNIST, 784, 784, 1
        )
        assert cost.torch_data_mem(MNIST, attempt) == attempt * cost.torch_data_mem(MNIST, 1)


def test_hull_time_follows_queries_and_their_cap():
    per_query = cost.HULL_QUERY_S_PER_VALUE * 60_000 * 784 + cost.HULL_QUERY_S
    all_queries = cost.hull_seconds(60_000, 10_000, 784, None)
    capped = cost.hull_seconds(60_000, 10_000, 784, 1000)
    assert all_queries - capped == pytest.approx(9000 * per_query)
    assert cost.hull_seconds(60_000, 10_000, 784, 10**9) == all_queries  # at most n_test
    # the theory's sweeps pay the start-up once, not once per dimension
    both = cost.theory_real_runtime(MNIST, [100, 784], None, 1)
    seconds = (
        cost.hull_seconds(60_000, 10_000, 100, None) + cost.hull_seconds(60_000, 10_000, 784, None)
    ) - cost.STARTUP_S
    assert both == math.ceil(cost.RUNTIME_SAFETY * seconds / 60) > cost.MIN_RUNTIME


def test_score_memory_is_the_larger_stage():
    # pixels: the hull engine's copies dominate; a 2-dimensional space: the neighbour blocks
    assert cost.score_mem(MNIST, 784, 784, 1) == cost.hull_mem(60_000, 784, 70_000, 784)
    assert cost.score_mem(MNIST, 2, 64, 1) == cost.proximity_mem(MNIST, 64)


def test_space_dimensions():
    dims = {"input_dimension": 784, "hidden": 64, "largest_latent": 21}
    expected = {
        "input": 784,
        "activation": 64,
        "intrinsic": 21,  # chosen at run time: costed at the largest size
        "input-pca50": 50,
        "activation-pca8": 8,
        "latent4": 4,
    }
    assert {s: cost.space_dimension(s, **dims) for s in expected} == expected
    with pytest.raises(ValueError, match="unknown space 'pixels'"):
        cost.space_dimension("pixels", **dims)


# Timings and peaks of single jobs the unit costs were fitted to (docs/performance.md, "The
# cost model's unit costs"): the model may pad them, never fall below them.
def test_requests_cover_the_measurements_they_were_fitted_to():
    assert cost.training_seconds(MLP, 60_000, 784) >= 2  # s per MNIST epoch
    assert cost.training_seconds(CNN, 60_000, 784) >= 7
    # one latent size of a 64-unit layer, 5 epochs, 128 hidden units: 2-4 s
    assert cost.AUTOENCODER_UNIT * 5 * 60_000 * (64 + 1) * 128 >= 4
    assert cost.hull_mem(60_000, 784, 70_000, 784) >= 4100  # MB, MNIST pixels
    assert cost.proximity_seconds(MNIST, 784) >= 18  # s, MNIST pixels
    assert cost.proximity_mem(MNIST, 64) >= 1300 and cost.proximity_mem(MNIST, 784) >= 1900
    # Monte Carlo: 200 sets x 5 queries at 7 dimensions x 10 sizes up to 10,000: 29 s
    grid = {
        "trials": 200,
        "queries_per_set": 5,
        "dimensions": [2, 3, 4, 5, 6, 7, 8],
        "sizes": [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000],
    }
    assert cost.theory_probability_seconds(grid) >= 29
