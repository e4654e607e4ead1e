"""Config values and config files that the schema accepts but the run cannot use are refused
when the config is read, naming the key (and the file that set it) and what to do."""

import ast
import copy
import math
import re

import jsonschema
import pytest
import yaml

from neuralhull import config_checks as cc
from tests.conftest import ROOT
from tests.workflow.test_config import TINY, dry_run, mutated

SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())


def common_smk_table(name):
    """A literal table of workflow/rules/common.smk (the workflow's own copy)."""
    text = (ROOT / "workflow/rules/common.smk").read_text()
    start = text.index(f"{name} = {{")
    return ast.literal_eval(ast.parse(text[start : text.index("}\n", start) + 1]).body[0].value)


SHAPES = common_smk_table("DATASET_SHAPES")
CLASSES = common_smk_table("DATASET_CLASSES")


def filled(cfg):
    """``cfg`` with the schema's defaults, as common.smk sees it after validate()."""
    cfg = copy.deepcopy(cfg)
    for section in ("data", "autoencoder", "hull", "proximity", "theory"):
        cfg.setdefault(section, {})
    cfg["data"].setdefault("test_fraction", 0.25)
    return cfg


def specs(cfg):
    defaults = {
        k: v["default"]
        for k, v in SCHEMA["properties"]["models"]["items"]["properties"].items()
        if "default" in v
    }
    return {m["name"]: {**defaults, **m} for m in cfg["models"]}


# ---- config files ------------------------------------------------------------------------


def test_a_key_given_twice_is_refused_naming_key_file_and_both_lines(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("seeds: [0]\nproximity:\n  k: 5\n  k: 7\n")
    with pytest.raises(cc.ConfigError) as err:
        cc.load_config_file(path)
    msg = str(err.value)
    assert f"{path}, line 4" in msg and "'k'" in msg and "first on line 3" in msg, msg
    # inside a list entry too, and at the top level
    path.write_text("models:\n  - name: a\n    arch: mlp\n    name: b\n")
    with pytest.raises(cc.ConfigError, match=r"line 4: key 'name' is given twice"):
        cc.load_config_file(path)
    path.write_text("seeds: [0]\nseeds: [1]\n")
    with pytest.raises(cc.ConfigError, match=r"line 2: key 'seeds'"):
        cc.load_config_file(path)


def test_a_json_config_with_a_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('{"seeds": [0], "seeds": [1]}')
    with pytest.raises(cc.ConfigError, match=r"dup\.json: key 'seeds' is given twice"):
        cc.load_config_file(path)
    path.write_text('{"seeds": [0, 1]}')
    assert cc.load_config_file(path) == {"seeds": [0, 1]}


def test_a_yaml_syntax_error_names_file_line_and_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("seeds: [0, 1]\nhull:\n  max_queries: [120\n  seed: 0\n")
    with pytest.raises(cc.ConfigError) as err:
        cc.load_config_file(path)
    assert re.search(
        rf"^{re.escape(str(path))}, line 4, column \d+: not valid YAML", str(err.value)
    )
    path.write_text("hull:\n\tseed: 0\n")  # a tab
    with pytest.raises(cc.ConfigError, match=r"line 2, column 1: not valid YAML"):
        cc.load_config_file(path)
    path.write_text("- 1\n- 2\n")
    with pytest.raises(cc.ConfigError, match="top level"):
        cc.load_config_file(path)


def test_the_shipped_config_files_read_strictly_as_yaml_reads_them():
    for path in sorted((ROOT / "config").glob("*.yaml")):
        assert cc.load_config_file(path) == yaml.safe_load(path.read_text()), path


def test_sources_follow_snakemakes_order_and_name_who_set_a_value(tmp_path):
    default, mine = tmp_path / "config.yaml", tmp_path / "mine.yaml"
    default.write_text("seeds: [0]\nproximity: {k: 10}\nhull: {seed: 0}\n")
    mine.write_text("proximity: {k: 7}\n")
    # Snakemake lists --configfile files first, the Snakefile's after, but applies them last
    sources = cc.config_sources([mine, default], [mine], {"hull": {"seed": 3}})
    assert [name for name, _ in sources] == [str(default), str(mine), "--config"]
    assert cc.origin(("proximity", "k"), sources) == str(mine)
    assert cc.origin(("seeds", 0), sources) == str(default)
    assert cc.origin(("hull", "seed"), sources) == "--config"
    assert cc.origin(("hull", "tol"), sources) is None


# ---- names: matched whole ----------------------------------------------------------------


@pytest.mark.parametrize("bad", ["mlp2\n", "mlp\r", "ml\tp", "mlp\x00"])
def test_a_name_with_a_control_character_is_refused(bad):
    cfg = copy.deepcopy(TINY)
    cfg["models"][1]["name"] = bad
    with pytest.raises(cc.ConfigError) as err:
        cc.check_text(cfg, [("my.yaml", cfg)])
    assert f"config: models[1].name = {bad!r} (set in my.yaml)" in str(err.value)
    # and the schema alone refuses it too (Python's $ matches before a final newline)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(cfg, SCHEMA)


def test_text_values_and_keys_with_control_characters_are_refused():
    cfg = copy.deepcopy(TINY)
    cfg["levers"][0]["name"] = "training\nlength"
    with pytest.raises(cc.ConfigError, match=r"levers\[0\]\.name"):
        cc.check_text(cfg)
    cfg = copy.deepcopy(TINY)
    cfg["datasets"][0]["models"][2] = "mlp\n"
    with pytest.raises(cc.ConfigError, match=r"datasets\[0\]\.models\[2\]"):
        cc.check_text(cfg)
    cfg = copy.deepcopy(TINY)
    cfg["hull"]["seed\n"] = 0
    with pytest.raises(cc.ConfigError, match="a key holds a control character"):
        cc.check_text(cfg)
    cc.check_text(TINY)  # the shipped configs pass
    jsonschema.validate(TINY, SCHEMA)


# ---- integers ----------------------------------------------------------------------------


def test_float_seeds_pass_json_schema_but_are_refused():
    cfg = mutated(lambda c: c.update(seeds=[0.0, 1.0]))
    jsonschema.validate(cfg, SCHEMA)  # JSON Schema counts 1.0 as an integer
    with pytest.raises(cc.ConfigError) as err:
        cc.check_integers(cfg, SCHEMA, [("bad.yaml", cfg)])
    assert "config: seeds[0] = 0.0 (set in bad.yaml): must be an integer: write 0" in str(err.value)


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda c: c["models"][2].update(width=16.0), r"models\[2\]\.width = 16\.0"),
        (lambda c: c["proximity"].update(k=5.0), r"proximity\.k = 5\.0"),
        (lambda c: c["hull"].update(max_queries=120.0), r"hull\.max_queries = 120\.0"),
        (lambda c: c["autoencoder"].update(latent_sizes=[1, 2.5]), r"latent_sizes\[1\] = 2\.5"),
        (lambda c: c["theory"]["embedding"].update(sizes=[2.0]), r"embedding\.sizes\[0\]"),
    ],
)
def test_floats_are_refused_wherever_the_schema_says_integer(edit, key):
    with pytest.raises(cc.ConfigError, match=key):
        cc.check_integers(mutated(edit), SCHEMA)


def test_floats_where_the_schema_says_number_and_the_shipped_configs_pass():
    cc.check_integers(mutated(lambda c: c["models"][0].update(lr=1.0, label_noise=0.0)), SCHEMA)
    for name in ("config.yaml", "tiny.yaml", "paper.yaml"):
        cc.check_integers(yaml.safe_load((ROOT / "config" / name).read_text()), SCHEMA)


# ---- what the data decide ----------------------------------------------------------------


def digits_split(fraction):
    """scikit-learn's own answer: the digits split the workflow makes, or its error."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    y = load_digits().target
    return train_test_split(y, test_size=fraction, random_state=0, stratify=y)


def split_refused(fraction):
    cfg = filled(mutated(lambda c: c["data"].update(test_fraction=fraction)))
    try:
        cc.check_split(cfg, SHAPES, CLASSES)
    except cc.ConfigError as err:
        assert "config: data.test_fraction" in str(err)
        return True
    return False


@pytest.mark.parametrize("fraction", [0.001, 0.005, 0.0056, 0.006, 0.5, 0.994, 0.995, 0.999])
def test_the_split_is_refused_exactly_when_scikit_learn_would_refuse_it(fraction):
    try:
        digits_split(fraction)
        sklearn_refuses = False
    except ValueError:
        sklearn_refuses = True
    assert split_refused(fraction) == sklearn_refuses


def test_the_split_message_gives_the_range_that_works():
    cfg = filled(mutated(lambda c: c["data"].update(test_fraction=0.001)))
    with pytest.raises(cc.ConfigError) as err:
        cc.check_split(cfg, SHAPES, CLASSES, [("bad.yaml", cfg)])
    msg = str(err.value)
    assert "config: data.test_fraction = 0.001 (set in bad.yaml): leaves 2 test images" in msg
    low, high = map(float, re.search(r"between ([\d.]+) and ([\d.]+)", msg).groups())
    digits_split(low), digits_split(high)  # both ends of the advice work
    assert split_refused(low - 0.0001) and split_refused(high + 0.0001)
    # a fixed split ignores the fraction
    cfg["datasets"] = [{"name": "mnist", "models": ["mlp"]}]
    cfg["theory"]["enabled"] = False
    cc.check_split(cfg, SHAPES, CLASSES)


def test_k_is_checked_against_the_training_set_size():
    fraction = TINY["data"]["test_fraction"]
    n_train = len(digits_split(fraction)[0])  # scikit-learn's count, not the formula's
    assert cc.split_sizes(filled(TINY), SHAPES["digits"]) == (n_train, 1797 - n_train)
    cc.check_proximity_k(filled(mutated(lambda c: c["proximity"].update(k=n_train))), SHAPES)
    cfg = filled(mutated(lambda c: c["proximity"].update(k=n_train + 1)))
    with pytest.raises(cc.ConfigError) as err:
        cc.check_proximity_k(cfg, SHAPES, [("bad.yaml", cfg)])
    msg = str(err.value)
    assert f"config: proximity.k = {n_train + 1} (set in bad.yaml)" in msg
    assert f"use proximity.k <= {n_train}" in msg
    cfg["datasets"] = [{"name": "mnist", "models": ["mlp"]}]  # 60,000 training images
    cc.check_proximity_k(cfg, SHAPES)
    cfg["proximity"]["k"] = 60001
    with pytest.raises(cc.ConfigError, match="60,000 training images of mnist"):
        cc.check_proximity_k(cfg, SHAPES)


def test_a_width_that_cannot_carry_the_latent_sweep_is_refused():
    # width 1 with latent sizes from 1: no autoencoder, and the one ReLU unit of a run died
    # in training (TwoNN then failed on constant activations)
    cfg = filled(mutated(lambda c: c["models"][0].update(width=1)))
    with pytest.raises(cc.ConfigError) as err:
        cc.check_widths(cfg, specs(cfg), [("bad.yaml", cfg)])
    msg = str(err.value)
    assert "config: models[0].width = 1 (set in bad.yaml): model 'mlp-weak'" in msg
    assert "wider than 1" in msg
    cfg["models"][0]["width"] = 2  # latent size 1 is swept
    cc.check_widths(cfg, specs(cfg))
    cfg["autoencoder"]["latent_sizes"] = [2, 4]
    with pytest.raises(cc.ConfigError, match=r"models\[0\]\.width = 2"):
        cc.check_widths(cfg, specs(cfg))
    cfg["datasets"][0]["models"].remove("mlp-weak")  # a model no dataset trains
    cc.check_widths(cfg, specs(cfg))
    cfg["datasets"][0]["models"].append("mlp-weak")
    cfg["models"][0].update(arch="resnet18")  # fixed at 512 units
    cc.check_widths(cfg, specs(cfg))


def test_the_class_counts_agree_with_the_library():
    from neuralhull.datasets import DATASETS

    assert CLASSES == {name: spec.n_classes for name, spec in DATASETS.items()}
    assert all(math.isfinite(n) for n in CLASSES.values())


# ---- the workflow: refused before any job ------------------------------------------------


def refused(proc, tmp_path, *words):
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for word in words:
        assert word in out, out[-3000:]
    assert not (tmp_path / "results").exists()
    assert not re.search(r"^rule \w+:", out, flags=re.M)  # no job was even planned
    return out


@pytest.mark.workflow
@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda c: c.update(seeds=[0.0, 1.0]), ["config: seeds[0] = 0.0", "bad.yaml", "write 0"]),
        (lambda c: c["proximity"].update(k=2000), ["config: proximity.k = 2000", "<= 1347"]),
        (lambda c: c["data"].update(test_fraction=0.001), ["data.test_fraction = 0.001"]),
        (lambda c: c["models"][0].update(width=1), ["models[0].width = 1", "mlp-weak"]),
        (lambda c: c["data"].update(split_seed=2**32), ["data.split_seed = 4294967296"]),
        (
            lambda c: (c["models"][2].update(name="mlp\n"), c["datasets"][0]["models"].pop()),
            ["config: models[2].name = 'mlp\\n'", "control character"],
        ),
    ],
)
def test_the_workflow_refuses_what_the_data_decide_before_any_job(tmp_path, edit, words):
    refused(dry_run(tmp_path, mutated(edit)), tmp_path, *words)


@pytest.mark.workflow
def test_the_workflow_refuses_a_config_file_with_a_key_given_twice(tmp_path):
    from tests.conftest import copy_workflow_profile, run_snakemake

    copy_workflow_profile(tmp_path)
    path = tmp_path / "bad.yaml"
    text = yaml.safe_dump(TINY, sort_keys=False)
    path.write_text(text + "proximity:\n  k: 7\n")
    line = text.count("\n") + 1
    proc = run_snakemake(tmp_path, "-n", check=False, configfile=str(path))
    refused(proc, tmp_path, f"{path}, line {line}: key 'proximity' is given twice")


@pytest.mark.workflow
def test_a_yaml_error_in_the_default_config_file_names_its_line(tmp_path):
    # Snakemake reads the Snakefile's config/config.yaml itself; its own message names
    # neither the file nor the line
    from tests.conftest import copy_workflow_profile, run_snakemake

    copy_workflow_profile(tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_text("seeds: [0, 1]\nproximity:\n\tk: 5\n")
    proc = run_snakemake(tmp_path, "-n", check=False)
    refused(proc, tmp_path, "config/config.yaml, line 3, column 1: not valid YAML")


def test_the_command_line_check_names_the_line_of_a_yaml_error(tmp_path, capsys):
    bad, good = tmp_path / "bad.yaml", tmp_path / "good.yaml"
    bad.write_text("seeds: [0\nproximity: {k: 5}\n")
    good.write_text("seeds: [0]\n")
    assert cc.main([str(good)]) == 0
    assert cc.main([str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}, line 2, column 10: not valid YAML" in err
    assert "flow sequence from line 1" in err


def test_models_without_a_lever_plot(tmp_path):
    # a model in no lever has the lever '', which a table read back gives as NaN
    import pandas as pd

    from neuralhull import plots
    from neuralhull.io import read_table

    table = tmp_path / "models.tsv"
    pd.DataFrame(
        {
            "model": ["a", "b"],
            "seed": [0, 0],
            "lever": ["", ""],
            "arch": ["mlp", "mlp"],
            "test_accuracy": [0.5, 0.9],
            "latent_dim": [2.0, None],
            "twonn": [2.5, 3.0],
        }
    ).to_csv(table, sep="\t", index=False)
    models = read_table(table)
    assert models["lever"].isna().all()
    plots.plot_intrinsic_vs_accuracy(models, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 0


def test_twonn_on_a_dead_layer_says_so():
    # a layer can still die in training at any width: the run then stops saying why
    import numpy as np

    from neuralhull.learn.intrinsic import twonn_dimension

    with pytest.raises(ValueError, match=r"at least 3 distinct points, got 1 \(.*dead layer"):
        twonn_dimension(np.zeros((100, 4)))


def test_a_seed_beyond_what_scikit_learn_takes_is_refused():
    from sklearn.model_selection import train_test_split

    y = list(range(20))
    train_test_split(y, test_size=0.5, random_state=cc.MAX_SEED)  # the largest one works
    with pytest.raises(ValueError):
        train_test_split(y, test_size=0.5, random_state=cc.MAX_SEED + 1)
    cc.check_seeds(mutated(lambda c: c["data"].update(split_seed=cc.MAX_SEED)))
    for edit, key in [
        (lambda c: c["data"].update(split_seed=2**32), r"data\.split_seed = 4294967296"),
        (lambda c: c.update(seeds=[0, 2**64]), r"seeds\[1\] = 18446744073709551616"),
        (lambda c: c["hull"].update(seed=2**40), r"hull\.seed"),
    ]:
        with pytest.raises(cc.ConfigError, match=key):
            cc.check_seeds(mutated(edit))
    cc.check_seeds(mutated(lambda c: c["hull"].update(max_queries=2**40)))  # not a seed
