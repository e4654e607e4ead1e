"""The power tool on a config's own design: the design and the noise are read as written,
and the simulated power agrees with what is known independently (a test's level when there
is no effect; the normal approximation of Spearman's rho; power that grows with models)."""

import itertools
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as sps
from threadpoolctl import threadpool_limits

from neuralhull.config_checks import ConfigError
from neuralhull.stats import power

LEVERS = {
    "training length": ["mlp-s10", "mlp-s20", "mlp-s40", "mlp-s80", "mlp-s160", "mlp"],
    "label noise": ["mlp-noise80", "mlp-noise60", "mlp-noise40", "mlp-noise20", "mlp"],
    "width": ["mlp-w16", "mlp-w32", "mlp", "mlp-w128"],
}


@pytest.fixture(autouse=True)
def one_thread():
    with threadpool_limits(1):
        yield


def write_config(path, levers=LEVERS, seeds=(0, 1, 2), small=None, extra=(), as_list=True):
    names = list(dict.fromkeys(m for models in levers.values() for m in models)) + list(extra)
    datasets = [{"name": "mnist", "models": names}]
    if small is not None:
        datasets.append({"name": "fashion_mnist", "models": small})
    cfg = {
        "datasets": datasets,
        "seeds": list(seeds),
        "models": [{"name": m, "arch": "mlp"} for m in names],
        "levers": [{"name": k, "models": v} for k, v in levers.items()] if as_list else levers,
    }
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_design_is_read_as_the_config_declares(tmp_path):
    small = ["mlp-s10", "mlp-s40", "mlp", "mlp-noise80", "mlp-w16"]
    cfg = write_config(tmp_path / "c.yaml", small=small, extra=["cnn"])
    design = power.read_design(cfg)
    assert design.dataset == "mnist"
    assert len(design.models) == 14  # 6 + 5 + 4 levels, the reference counted once, + cnn
    assert design.n_seeds == 3
    assert {k: len(v) for k, v in design.levers.items()} == {
        "training length": 6,
        "label noise": 5,
        "width": 4,
    }
    assert design.levers["width"] == ("mlp-w16", "mlp-w32", "mlp", "mlp-w128")  # order kept
    assert design.shared() == {"mlp"}
    as_mapping = write_config(tmp_path / "m.yaml", small=small, extra=["cnn"], as_list=False)
    assert power.read_design(as_mapping) == replace(design, source=str(as_mapping))

    second = power.read_design(cfg, "fashion_mnist")  # restricted to that dataset's models
    assert second.models == tuple(small)
    assert second.levers == {
        "training length": ("mlp-s10", "mlp-s40", "mlp"),
        "label noise": ("mlp-noise80", "mlp"),
        "width": ("mlp-w16", "mlp"),
    }

    lone = write_config(tmp_path / "lone.yaml", small=["mlp-s10", "mlp-w16"])
    assert power.read_design(lone, "fashion_mnist").dropped == (
        "training length",
        "label noise",
        "width",
    )


def test_seeds_default_to_the_schemas(tmp_path):
    cfg = write_config(tmp_path / "c.yaml")
    data = yaml.safe_load(cfg.read_text())
    del data["seeds"]
    cfg.write_text(yaml.safe_dump(data))
    assert power.read_design(cfg).n_seeds == 1  # the schema's default: [0]


def test_design_errors_name_the_file_and_the_fix(tmp_path):
    cfg = write_config(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match=r"c\.yaml: dataset 'cifar10' is not in datasets"):
        power.read_design(cfg, "cifar10")
    data = yaml.safe_load(cfg.read_text())
    data["levers"][2]["models"].append("mlp-w999")
    cfg.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"c\.yaml: levers: 'width' names 'mlp-w999'"):
        power.read_design(cfg)
    del data["levers"]
    cfg.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"c\.yaml: no levers: \(each lever's name"):
        power.read_design(cfg)


def test_the_command_reports_a_bad_file_without_a_traceback(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.yaml")
    with pytest.raises(SystemExit) as exit_:
        power.main(["--design", str(cfg), "--noise", str(tmp_path / "none.tsv")])
    assert exit_.value.code == 2
    assert "none.tsv: no such file; pass a finished run's" in capsys.readouterr().err


def models_tsv(path, rows):
    table = pd.DataFrame(rows, columns=["model", "seed", "lever", "test_accuracy", "latent_dim"])
    path.write_text("# table: models\n" + table.to_csv(sep="\t", index=False))
    return path


def test_noise_and_levers_are_estimated_as_documented(tmp_path):
    dims = {  # model: (lever, accuracy per seed, dimension per seed)
        "mlp-s10": ("training length", (0.80, 0.82, 0.81), (9, 8, 9)),
        "mlp-s40": ("training length", (0.90, 0.88, 0.89), (7, 7, 8)),
        "mlp": ("reference", (0.95, 0.94, 0.96), (6, 6, 5)),
        "mlp-noise80": ("label noise", (0.70, 0.75, 0.72), (5, 7, 6)),
        "mlp-noise50": ("label noise", (0.85, 0.86, 0.84), (8, 8, 8)),
        "cnn": ("capacity", (0.99, 0.985, 0.98), (4, 4, 5)),
    }
    rows = [
        (m, s, *dims[m][:1], dims[m][1][s], dims[m][2][s]) for m in reversed(dims) for s in range(3)
    ]  # the file's order is not the levers' order
    tsv = models_tsv(tmp_path / "models.tsv", rows)
    cfg = write_config(tmp_path / "c.yaml")
    observed = power.read_noise(tsv, power.read_design(cfg))
    acc = np.array([v[1] for v in dims.values()])
    dim = np.array([v[2] for v in dims.values()], dtype=float)
    # the components, written out from their definitions
    within = dim.var(axis=1, ddof=1).mean()
    assert observed.noise.sd_seed_dimension == pytest.approx(math.sqrt(within - 1 / 12))
    assert observed.noise.sd_model_dimension == pytest.approx(
        math.sqrt(dim.mean(axis=1).var(ddof=1) - within / 3)
    )
    within_acc = acc.var(axis=1, ddof=1).mean()
    assert observed.noise.sd_seed_accuracy == pytest.approx(math.sqrt(within_acc))
    assert observed.integer_dimension and observed.n_seeds == 3 and observed.n_models == 6

    levers = {lev.name: lev for lev in observed.levers}
    assert set(levers) == {"training length", "label noise", "capacity"}
    tl = levers["training length"]  # in the config's lever: the config's order
    assert tl.order == "config" and tl.models == ("mlp-s10", "mlp-s40", "mlp")
    y = dim[[0, 1, 2]].mean(axis=1)
    fit = sps.linregress([0.0, 0.5, 1.0], y)
    assert tl.delta == pytest.approx(fit.slope)
    assert tl.p_decreasing == pytest.approx(1 / 6)  # strictly falling: 1 of 3! orders
    ln = levers["label noise"]  # noise50 is not in the config's lever: by accuracy
    assert ln.order == "accuracy" and ln.models == ("mlp-noise80", "mlp-noise50", "mlp")
    cap = levers["capacity"]
    assert cap.models == ("mlp", "cnn") and cap.delta == pytest.approx(13 / 3 - 17 / 3)
    # scatter: pooled residual variance of the 3-model levers around their lines, less the
    # seeds' share
    ss = 0.0
    for idx in ([0, 1, 2], [3, 4, 2]):
        y = dim[idx].mean(axis=1)
        fit = sps.linregress([0.0, 0.5, 1.0], y)
        ss += ((y - fit.intercept - fit.slope * np.array([0.0, 0.5, 1.0])) ** 2).sum()
    assert observed.scatter == pytest.approx(math.sqrt(max(ss / 2 - within / 3, 0.0)))


def test_each_lever_has_its_own_noise_and_the_findings_dimension_by_default(tmp_path):
    # a quiet lever and a noisy one: their own seed SD and scatter, not the pooled ones
    rng = np.random.default_rng(3)
    quiet = {"mlp-w16": 4.0, "mlp-w32": 5.0, "mlp": 6.0, "mlp-w128": 7.0}
    noisy = {"mlp-s10": 30.0, "mlp-s20": 9.0, "mlp-s40": 5.0, "mlp-s80": 5.5, "mlp-s160": 6.5}
    rows, cont = [], {}
    for lever, table, sd in (("width", quiet, 0.1), ("training length", noisy, 2.0)):
        for m, mu in table.items():
            for s in range(3):
                cont[(m, s)] = mu + rng.normal(0, 0.1 if m == "mlp" else sd)
                rows.append((m, s, "reference" if m == "mlp" else lever, 0.9, round(mu)))
    tsv = models_tsv(tmp_path / "models.tsv", rows)
    table = pd.read_csv(tsv, sep="\t", comment="#")
    keys = zip(table.model, table.seed, strict=True)
    table["latent_dim_continuous"] = [cont[key] for key in keys]
    table.to_csv(tsv, sep="\t", index=False)
    levers = {"width": list(quiet), "training length": [*list(noisy), "mlp"]}
    design = power.read_design(write_config(tmp_path / "c.yaml", levers=levers))
    observed = power.read_noise(tsv, design)  # no dimension named: the continuous one
    assert not observed.integer_dimension
    by_name = {lev.name: lev for lev in observed.levers}
    for name, models in levers.items():
        runs = table[table.model.isin(models)].groupby("model")["latent_dim_continuous"]
        within = runs.var(ddof=1).mean()
        y = runs.mean().loc[models].to_numpy()
        t = np.linspace(0, 1, len(models))
        fit = sps.linregress(t, y)
        resid = ((y - fit.intercept - fit.slope * t) ** 2).sum() / (len(models) - 2)
        lev = by_name[name]
        assert lev.seed_sd == pytest.approx(math.sqrt(within))
        assert lev.scatter == pytest.approx(math.sqrt(max(resid - within / 3, 0.0)))
    assert observed.lever_noise() == {k: (v.scatter, v.seed_sd) for k, v in by_name.items()}
    assert by_name["width"].seed_sd < 0.3 < 1.0 < by_name["training length"].seed_sd

    # around the best monotone fit: scikit-learn's isotonic regression, either direction
    from sklearn.isotonic import IsotonicRegression

    for name, models in levers.items():
        runs = table[table.model.isin(models)].groupby("model")["latent_dim_continuous"]
        within = runs.var(ddof=1).mean()
        y = runs.mean().loc[models].to_numpy()
        fits = []
        for increasing in (True, False):
            fit = IsotonicRegression(increasing=increasing).fit_transform(np.arange(y.size), y)
            levels = np.unique(np.round(fit, 9)).size
            fits.append((((y - fit) ** 2).sum(), y.size - levels))
        ss, df = min(fits)
        expect = math.sqrt(max(ss / df - within / 3, 0.0)) if df > 0 else math.nan
        assert by_name[name].monotone_scatter == pytest.approx(expect, nan_ok=True), name
    # the noisy lever falls, then rises a little: its line counts the curve as scatter
    noisy_lever = by_name["training length"]
    assert noisy_lever.monotone_scatter < 0.5 * noisy_lever.scatter
    monotone = observed.lever_noise("monotone")
    for name, lev in by_name.items():
        use = lev.monotone_scatter if math.isfinite(lev.monotone_scatter) else lev.scatter
        assert monotone[name] == (use, lev.seed_sd)
    with pytest.raises(ValueError, match="around must be one of"):
        observed.lever_noise("quadratic")
    assert power.read_noise(tsv, design, "latent_dim").integer_dimension

    # the simulation gives each lever's models their own noise, the shared model the
    # smallest of its levers'
    noise = power.Noise(sd_seed_dimension=5.0, mean_dimension=6.0)
    own = {"width": (0.2, 0.3), "training length": (4.0, 2.0)}
    sim = power.Simulation(np.random.default_rng(0), 20000, integer_dimension=False)
    values = power.simulate_levers(sim, design, {}, 9.0, noise, lever_noise=own)
    for name, (scatter, seed) in own.items():
        sd = values[name].std(axis=0)
        ref = levers[name].index("mlp")
        expect = math.sqrt(scatter**2 + seed**2 / 3)
        others = np.delete(sd, ref)
        assert others == pytest.approx(np.full(len(others), expect), rel=0.04), name
        assert sd[ref] == pytest.approx(math.sqrt(0.2**2 + 0.3**2 / 3), rel=0.04)


def test_noise_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "models.tsv"
    bad.write_text("model\tseed\ttest_accuracy\nmlp\t0\t0.9\n")
    with pytest.raises(ValueError, match=r"models\.tsv: no column latent_dim"):
        power.read_noise(bad)
    with pytest.raises(FileNotFoundError, match=r"nothere\.tsv: no such file"):
        power.read_noise(tmp_path / "nothere.tsv")


def test_simulated_levers_follow_their_lines_and_share_the_reference(tmp_path):
    design = power.read_design(write_config(tmp_path / "c.yaml"))
    noise = power.Noise(sd_seed_dimension=0.5, mean_dimension=6.0)
    deltas = {"training length": -2.0, "width": 1.5}
    sim = power.Simulation(np.random.default_rng(0), 20000, integer_dimension=False)
    values = power.simulate_levers(sim, design, deltas, 0.7, noise)
    ref = {name: list(models).index("mlp") for name, models in design.levers.items()}
    first = values["training length"][:, ref["training length"]]
    for name, v in values.items():
        assert np.array_equal(v[:, ref[name]], first)  # one model, one set of runs
        n = v.shape[1]
        line = 6.0 + deltas.get(name, 0.0) * (np.arange(n) - ref[name]) / (n - 1)
        se = math.sqrt(0.7**2 + 0.5**2 / 3) / math.sqrt(20000)
        assert np.abs(v.mean(axis=0) - line).max() < 5 * se, name
        assert v.std(axis=0).mean() == pytest.approx(math.sqrt(0.49 + 0.25 / 3), rel=0.03)


def test_trend_tests_hold_their_level_without_a_trend(tmp_path):
    separate = {
        k: [m if m != "mlp" else f"mlp-{i}" for m in v] for i, (k, v) in enumerate(LEVERS.items())
    }  # no model shared between levers
    design = power.read_design(write_config(tmp_path / "c.yaml", levers=separate))
    noise = power.Noise(sd_seed_dimension=0.5)
    per_lever, combined, held = power.design_trend_power(
        power.Simulation(np.random.default_rng(0), 1500, 1000), design, {}, 0.8, noise
    )
    limit = 0.05 + 3 * math.sqrt(0.05 * 0.95 / 1500)
    assert max(per_lever.values()) <= limit and combined <= limit, (per_lever, combined)
    assert min(per_lever.values()) >= 0.015  # whole-number ties make it a little conservative
    assert held is None
    # and a trend is found more often than the level
    per_lever, combined, _ = power.design_trend_power(
        power.Simulation(np.random.default_rng(1), 400, 500),
        design,
        dict.fromkeys(separate, -3.0),
        0.8,
        noise,
    )
    assert min(per_lever.values()) > 0.3 and combined > max(per_lever.values())


def test_holding_the_shared_model_keeps_the_combined_tests_level(tmp_path):
    design = power.read_design(write_config(tmp_path / "c.yaml"))  # mlp in every lever
    noise = power.Noise(sd_seed_dimension=0.5)
    per_lever, _, held = power.design_trend_power(
        power.Simulation(np.random.default_rng(2), 1500, 1000), design, {}, 0.8, noise
    )
    limit = 0.05 + 3 * math.sqrt(0.05 * 0.95 / 1500)
    assert max(per_lever.values()) <= limit and held <= limit, (per_lever, held)
    perms = power._permutations(np.random.default_rng(0), 500, 6, (2, 5))
    assert (perms[:, [2, 5]] == [2, 5]).all()
    assert {tuple(sorted(row)) for row in perms} == {tuple(range(6))}
    assert len({tuple(row) for row in perms}) == 24  # every order of the other four


def test_zoo_power_matches_the_normal_approximation():
    # Spearman's rho of n pairs: atanh(r_s) is about normal with variance 1.06 / (n - 3)
    # (Fieller, Hartley & Pearson 1957); no seed noise, continuous values
    noise = power.Noise(sd_seed_accuracy=1e-12, sd_seed_dimension=1e-12)
    n, rho = 20, -0.6
    z = math.atanh(abs(rho)) * math.sqrt((n - 3) / 1.06)
    expected = sps.norm.cdf(z - sps.norm.ppf(0.975))
    sim = power.Simulation(np.random.default_rng(0), 4000, 2000, integer_dimension=False)
    simulated = power.zoo_power(sim, n, 3, rho, noise)
    assert simulated == pytest.approx(expected, abs=0.02), (simulated, expected)  # 3 SE


def test_design_power_rises_with_models(tmp_path, capsys):
    rows = [
        (m, s, "reference" if m == "mlp" else "training length", 0.8 + 0.01 * i + 0.003 * s, d)
        for i, (m, d0) in enumerate([("mlp-s10", 8), ("mlp-s40", 7), ("mlp", 6)])
        for s, d in enumerate((d0, d0 + 1, d0 - 1))
    ] + [("cnn", s, "capacity", 0.98, 4 + s % 2) for s in range(3)]
    tsv = models_tsv(tmp_path / "models.tsv", rows)
    small = {k: v[-3:] for k, v in LEVERS.items()}  # 3 levers of 3 levels: 7 models
    powers = []
    for name, levers in (("small", small), ("large", LEVERS)):
        cfg = write_config(tmp_path / f"{name}.yaml", levers=levers)
        power.main(["--design", str(cfg), "--noise", str(tsv), "--sims", "300", "--perms", "300"])
        out = capsys.readouterr().out
        assert f"{len(power.read_design(cfg).models)} models x 3 seeds, 3 levers" in out
        row = next(line for line in out.splitlines() if line.startswith("| -0.6 |"))
        powers.append(float(row.split("|")[2]))
        combined = next(line for line in out.splitlines() if line.startswith("| combined"))
        assert combined.count("|") == 7
        assert "At the findings' rule" in out and "| across the zoo (Spearman) |" in out
    assert powers[1] > powers[0] + 0.1, powers


def test_stratified_test_with_a_held_level_matches_brute_force():
    from neuralhull.stats import trend

    rng = np.random.default_rng(3)
    shared = 0.3
    levers = [  # one value per level; the shared model last in two levers, third in one
        [[v] for v in [*rng.normal(size=3), shared]],
        [[v] for v in [*rng.normal(size=4) - np.arange(4), shared]],
        [[v] for v in [*rng.normal(size=2), shared, rng.normal()]],
    ]
    held = [[3], [4], [2]]
    exact = trend.stratified_trend_test(levers, alternative="decreasing", method="exact", held=held)
    assert exact.n_permutations == math.factorial(3) * math.factorial(4) * math.factorial(3)

    def z_of(values):
        return trend.jonckheere_terpstra([[v] for v in values], method="normal").z

    brute = []
    base = [np.concatenate(g) for g in levers]
    frees = [[i for i in range(len(b)) if i not in h] for b, h in zip(base, held, strict=True)]
    for perms in itertools.product(
        *(itertools.permutations(b[f]) for b, f in zip(base, frees, strict=True))
    ):
        total = 0.0
        for b, f, p in zip(base, frees, perms, strict=True):
            v = b.copy()
            v[f] = p
            total += z_of(v)
        brute.append(total / math.sqrt(3))
    assert exact.statistic == pytest.approx(sum(z_of(b) for b in base) / math.sqrt(3))
    assert exact.p_value == pytest.approx(np.mean(np.array(brute) <= exact.statistic + 1e-9))
    # the conditional null is not centred on 0: two-sided doubles the smaller tail
    two = trend.stratified_trend_test(levers, method="exact", held=held)
    tails = [np.mean(np.array(brute) <= two.statistic + 1e-9)]
    tails.append(np.mean(np.array(brute) >= two.statistic - 1e-9))
    assert two.p_value == pytest.approx(min(1.0, 2 * min(tails)))
    assert abs(np.mean(brute)) > 0.1  # and the example shows it
    perm = trend.stratified_trend_test(
        levers,
        alternative="decreasing",
        method="permutation",
        held=held,
        rng=np.random.default_rng(4),
        n_resamples=20000,
    )
    assert perm.p_value == pytest.approx(exact.p_value, abs=0.006)
    _, vectorised = power.stratified_jt_permutation(
        [(np.arange(len(b)), b[None, :], h) for b, h in zip(base, held, strict=True)],
        np.random.default_rng(5),
        20000,
        "decreasing",
    )
    assert vectorised[0] == pytest.approx(exact.p_value, abs=0.006)
    with pytest.raises(ValueError, match="not 'normal'"):
        trend.stratified_trend_test(levers, method="normal", held=held)
    with pytest.raises(ValueError, match="indices of its levels"):
        trend.stratified_trend_test(levers, held=[[5], [], []])


def test_holding_the_shared_level_keeps_the_stratified_tests_level():
    from neuralhull.stats import trend

    rng = np.random.default_rng(6)
    n_sims, held, whole = 1000, 0, 0
    for _ in range(n_sims):  # no trend; one model (the last level) shared by five levers
        shared, others = rng.normal(), rng.normal(size=(5, 3))
        levers = [[[v] for v in [*row, shared]] for row in others]
        test = trend.stratified_trend_test(
            levers, alternative="decreasing", method="exact", held=[[3]] * 5
        )
        held += test.p_value < 0.05
        test = trend.stratified_trend_test(
            levers, alternative="decreasing", method="permutation", rng=rng, n_resamples=1000
        )
        whole += test.p_value < 0.05
    limit = 0.05 + 3 * math.sqrt(0.05 * 0.95 / n_sims)
    assert held / n_sims <= limit < whole / n_sims, (held / n_sims, whole / n_sims)


def test_the_findings_two_sided_rule_is_the_one_sided_test_at_half_the_level(tmp_path):
    # the trend tests' null distributions are symmetric: "two-sided p < a and falling" is
    # "one-sided p < a / 2"
    design = power.read_design(write_config(tmp_path / "c.yaml"))
    noise = power.Noise(sd_seed_dimension=0.5)
    deltas = dict.fromkeys(design.levers, -2.0)
    runs = {
        rule: power.design_trend_power(
            power.Simulation(np.random.default_rng(8), 1500, 2000),
            design,
            deltas,
            0.8,
            noise,
            rule=rule,
        )
        for rule in (("two-sided", 0.05, 0.02), ("decreasing", 0.025, 0.01))
    }
    (lever_2, comb_2, held_2), (lever_1, comb_1, held_1) = runs.values()
    for name in design.levers:
        assert lever_2[name] == pytest.approx(lever_1[name], abs=0.03), name
    assert comb_2 == pytest.approx(comb_1, abs=0.03)
    assert held_2 == pytest.approx(held_1, abs=0.03)
    assert 0.1 < lever_2["training length"] < 0.9 and 0.1 < held_2 < 0.9  # informative
