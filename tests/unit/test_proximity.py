"""Nearest-neighbour measures and spaces, against brute force and known constructions."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from neuralhull.proximity import (
    _smallest_columns,
    distance_scale,
    nearest_neighbours,
    proximity_scores,
)
from neuralhull.spaces import parse_space, pca_fit, pca_project, query_subsample


def brute_knn(train, queries, k):
    d = np.sqrt(((queries[:, None, :] - train[None, :, :]) ** 2).sum(-1))
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, idx, 1), idx


@pytest.mark.parametrize("d", [1, 3, 40])
def test_nearest_neighbours_match_brute_force(d):
    rng = np.random.default_rng(d)
    train = rng.normal(size=(500, d)) * rng.uniform(0.1, 10, size=d)
    queries = rng.normal(size=(77, d))
    dist, idx = nearest_neighbours(train, queries, 7, chunk=16)
    bd, bi = brute_knn(train, queries, 7)
    np.testing.assert_allclose(dist, bd, rtol=1e-12)
    np.testing.assert_array_equal(idx, bi)


@pytest.mark.parametrize("case", ["random", "loose-probe", "ties"])
def test_smallest_columns_is_argpartition(case):
    # the pruned selection returns the same set of values as a full partition, also when
    # the probe bounds badly (its columns hold the largest values) and with many ties
    rng = np.random.default_rng(4)
    d2 = rng.normal(size=(37, 5000)).astype(np.float32)
    probe = np.arange(0, 5000, 50)
    if case == "loose-probe":
        d2[:, probe] += 100.0
    if case == "ties":
        d2 = np.round(d2).astype(np.float32)
    c = 9
    got = _smallest_columns(d2, c, probe)
    want = np.argpartition(d2, c - 1, axis=1)[:, :c]
    assert got.shape == (37, c) and (np.sort(got, 1)[:, 1:] != np.sort(got, 1)[:, :-1]).all()
    np.testing.assert_array_equal(
        np.sort(np.take_along_axis(d2, got, 1), 1), np.sort(np.take_along_axis(d2, want, 1), 1)
    )


def test_nearest_neighbours_with_a_probe_match_brute_force():
    # n > 2 x probe size: the pruned selection path; clustered data, a far-away query too
    rng = np.random.default_rng(5)
    centres = rng.normal(scale=20, size=(6, 24))
    train = centres[rng.integers(0, 6, 6000)] + rng.normal(size=(6000, 24))
    queries = np.vstack([train[:40] + 0.01, rng.normal(scale=50, size=(5, 24))])
    dist, idx = nearest_neighbours(train, queries, 10)
    d = np.sqrt(((queries[:, None, :] - train[None, :, :]) ** 2).sum(-1))
    bi = np.argsort(d, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(idx, bi)
    np.testing.assert_allclose(dist, np.take_along_axis(d, bi, 1), rtol=1e-12)


def test_nearest_neighbours_far_from_origin_keeps_exact_order():
    # float32 alone would lose these differences (offset 1e4, gaps 1e-3)
    rng = np.random.default_rng(0)
    train = 1e4 + rng.uniform(0, 1, size=(300, 5))
    queries = 1e4 + rng.uniform(0, 1, size=(20, 5))
    dist, idx = nearest_neighbours(train, queries, 3)
    bd, bi = brute_knn(train, queries, 3)
    np.testing.assert_array_equal(idx, bi)
    np.testing.assert_allclose(dist, bd, rtol=1e-9)


def test_exclude_self():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 4))
    _, idx = nearest_neighbours(x, x, 2, exclude_self=True)
    assert not (idx == np.arange(50)[:, None]).any()
    bd, bi = brute_knn(x, x, 3)
    np.testing.assert_array_equal(idx, bi[:, 1:])


def test_distance_scale_of_a_lattice_is_its_spacing():
    h = 0.37
    g = np.stack(np.meshgrid(np.arange(20), np.arange(20)), -1).reshape(-1, 2) * h
    assert distance_scale(g, n_sample=400) == pytest.approx(h, rel=1e-12)


def test_proximity_scores_on_a_constructed_case():
    # two clusters far apart, class 0 around 0, class 1 around 100
    train = np.array([[0.0], [1.0], [2.0], [100.0], [101.0], [102.0]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    q = np.array([[1.5], [100.0]])
    out = proximity_scores(train, labels, q, np.array([0, 0]), np.array([0, 1]), k=3, scale=0.5)
    np.testing.assert_allclose(out["nn_distance"], [1.0, 0.0])  # 0.5/0.5, 0/0.5
    np.testing.assert_allclose(out["knn_mean_distance"], [(0.5 + 0.5 + 1.5) / 3 / 0.5, 2.0])
    np.testing.assert_allclose(out["knn_label_agreement"], [1.0, 0.0])
    np.testing.assert_allclose(out["knn_pred_agreement"], [1.0, 1.0])


def test_parse_space():
    assert parse_space("input") == ("input", None)
    assert parse_space("input-pca16") == ("input-pca", 16)
    assert parse_space("activation") == ("activation", None)
    assert parse_space("activation-pca2") == ("activation-pca", 2)
    assert parse_space("latent8") == ("latent", 8)
    for bad in ["latent", "pixels", "input-pca", "activation-pcaX"]:
        with pytest.raises(ValueError, match="unknown space"):
            parse_space(bad)


def test_pca_matches_sklearn():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 12)) @ rng.normal(size=(12, 12))
    mean, comps, var = pca_fit(x, 5)
    ref = PCA(5, svd_solver="full").fit(x)
    np.testing.assert_allclose(var, ref.explained_variance_, rtol=1e-9)
    np.testing.assert_allclose(np.abs(comps @ ref.components_.T), np.eye(5), atol=1e-8)
    tr, te = pca_project(x, x[:10], 5)
    np.testing.assert_allclose(np.abs(tr), np.abs(ref.transform(x)), atol=1e-8)
    np.testing.assert_allclose(te, tr[:10])


def test_query_subsample():
    assert np.array_equal(query_subsample(10, None, 0), np.arange(10))
    assert np.array_equal(query_subsample(10, 50, 0), np.arange(10))
    s = query_subsample(1000, 100, 3)
    assert len(s) == 100 and len(np.unique(s)) == 100 and np.all(np.diff(s) > 0)
    assert np.array_equal(s, query_subsample(1000, 100, 3))
    assert not np.array_equal(s, query_subsample(1000, 100, 4))
