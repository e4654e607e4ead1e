"""The zoo's levers (``levers:``): a design the findings can read as dose-response, or a
refusal that names the key, the file and what to do."""

import copy

import jsonschema
import pytest

from neuralhull import config_checks as cc
from neuralhull.summary import run_tables
from tests.faults.test_config_faults import SCHEMA, specs
from tests.workflow.test_config import TINY


def config(levers, models=None):
    """Tiny's models (and any ``models`` added), trained on digits, with ``levers``."""
    cfg = copy.deepcopy(TINY)
    cfg["models"] += models or []
    cfg["datasets"][0]["models"] = [m["name"] for m in cfg["models"]]
    cfg["levers"] = [{"name": n, "models": ms} for n, ms in levers.items()]
    return cfg


def refused(cfg):
    with pytest.raises(cc.ConfigError) as err:
        cc.check_levers(cfg, specs(cfg), [("zoo.yaml", cfg)])
    return str(err.value)


WIDER = {"name": "mlp-w32", "arch": "mlp", "width": 32, "depth": 1, "epochs": 20, "lr": 0.01}
WIDER["batch_size"] = 64


def test_the_shipped_levers_pass():
    cc.check_levers(TINY, specs(TINY))
    assert cc.dataset_levers(TINY["levers"], TINY["datasets"][0]["models"]) == {
        "training length": ["mlp-weak", "mlp-short", "mlp"]
    }


def test_a_model_the_config_does_not_define_is_refused():
    msg = refused(config({"training length": ["mlp-weak", "mlp-s7", "mlp"]}))
    assert msg.startswith("config: levers[0].models[1] = 'mlp-s7' (set in zoo.yaml):"), msg
    assert "not defined under models:" in msg


def test_a_model_no_dataset_trains_is_refused():
    cfg = config({"training length": ["mlp-weak", "mlp-short", "mlp"]})
    cfg["datasets"][0]["models"].remove("mlp-short")
    msg = refused(cfg)
    assert "levers[0].models[1] = 'mlp-short'" in msg and "no dataset trains" in msg


def test_a_lever_that_varies_two_settings_is_refused():
    wide_and_long = {**WIDER, "name": "mlp-w32-long", "epochs": 30}
    msg = refused(config({"width": ["mlp", "mlp-w32-long"]}, [wide_and_long]))
    assert "levers[0].models = ['mlp', 'mlp-w32-long']" in msg
    assert "differ in 2 settings (steps/epochs, width)" in msg
    # an architecture change inside a lever is a second setting too
    cnn = {**WIDER, "name": "cnn-w32", "arch": "cnn"}
    assert "different architectures" in refused(
        config({"width": ["mlp-w32", "cnn-w32"]}, [WIDER, cnn])
    )


def test_snapshots_and_the_full_run_differ_in_training_length_alone():
    # a step budget ignores epochs: mlp-weak (steps 5) and mlp (epochs 20) vary one setting
    assert cc._varied_settings([specs(TINY)[m] for m in ("mlp-weak", "mlp")]) == ["steps/epochs"]
    cfg = config({"training length": ["mlp-weak", "mlp"], "width": ["mlp", "mlp-w32"]}, [WIDER])
    cc.check_levers(cfg, specs(cfg))


def test_only_the_reference_may_be_in_several_levers():
    cfg = config(
        {
            "training length": ["mlp-weak", "mlp-short", "mlp"],
            "width": ["mlp", "mlp-w32"],
            "short training": ["mlp-weak", "mlp"],
        },
        [WIDER],
    )
    msg = refused(cfg)
    assert "levers[0].models" in msg and "shares 2 models" in msg, msg
    assert "'mlp', 'mlp-weak'" in msg
    del cfg["levers"][2]
    cc.check_levers(cfg, specs(cfg))  # one shared model: the reference
    # levers of another architecture have their own reference
    cnn = {"arch": "cnn", "width": 16, "depth": 1, "epochs": 20, "lr": 0.01, "batch_size": 64}
    cfg["models"] += [{**cnn, "name": "cnn"}, {**cnn, "name": "cnn-c4", "channels": 4}]
    cfg["models"] += [{**cnn, "name": "cnn-s5", "steps": 5}]
    cfg["datasets"][0]["models"] += ["cnn", "cnn-c4", "cnn-s5"]
    cfg["levers"] += [
        {"name": "channels", "models": ["cnn-c4", "cnn"]},
        {"name": "cnn steps", "models": ["cnn-s5", "cnn"]},
    ]
    cc.check_levers(cfg, specs(cfg))
    del cfg["levers"][2:]
    assert cc.lever_of(cc.dataset_levers(cfg["levers"], cfg["datasets"][0]["models"])) == {
        "mlp-weak": "training length",
        "mlp-short": "training length",
        "mlp": "reference",
        "mlp-w32": "width",
    }


def test_a_lever_name_given_twice_is_refused():
    cfg = config({"training length": ["mlp-weak", "mlp"]})
    cfg["levers"].append({"name": "training length", "models": ["mlp-short", "mlp"]})
    msg = refused(cfg)
    assert "levers[1].name = 'training length'" in msg and "levers[0]" in msg


def test_the_schema_refuses_a_lever_of_one_model_and_the_old_per_model_key():
    with pytest.raises(jsonschema.ValidationError, match="is too short"):
        jsonschema.validate(config({"training length": ["mlp"]}), SCHEMA)
    cfg = copy.deepcopy(TINY)
    cfg["models"][0]["lever"] = "training length"
    with pytest.raises(jsonschema.ValidationError, match="'lever' was unexpected"):
        jsonschema.validate(cfg, SCHEMA)


def test_a_dataset_keeps_the_levers_it_trains_two_models_of_in_order():
    levers = [
        {"name": "a", "models": ["m3", "m1", "ref"]},
        {"name": "b", "models": ["m2", "ref"]},
    ]
    assert cc.dataset_levers(levers, ["ref", "m1", "m2", "m3"]) == {
        "a": ["m3", "m1", "ref"],
        "b": ["m2", "ref"],
    }
    # a smaller zoo: lever a keeps two of its models, lever b one (left out)
    kept = cc.dataset_levers(levers, ["m1", "ref"])
    assert kept == {"a": ["m1", "ref"]}
    assert cc.lever_of(kept) == {"m1": "a", "ref": "a"}


def test_the_models_table_names_each_models_lever(tmp_path):
    import json

    metrics, intrinsic = [], []
    for model in ("m1", "ref", "m2", "other"):
        run = tmp_path / "results" / "digits" / model / "seed0"
        run.mkdir(parents=True)
        spec = {"arch": "mlp", "width": 8, "depth": 1}
        train = {"epochs": 1, "label_noise": 0.0}
        (run / "train_metrics.json").write_text(
            json.dumps(
                {
                    "spec": spec,
                    "train": train,
                    "final_train_accuracy": 0.9,
                    "final_test_accuracy": 0.8,
                }
            )
        )
        (run / "intrinsic_dimension.json").write_text(
            json.dumps(
                {
                    "chosen_latent_size": 2,
                    "threshold_reached": True,
                    "twonn": 2.0,
                    "latent_sizes": [],
                }
            )
        )
        metrics.append(str(run / "train_metrics.json"))
        intrinsic.append(str(run / "intrinsic_dimension.json"))
    models, _, _ = run_tables(metrics, intrinsic, [], {"a": ["m1", "ref"], "b": ["m2", "ref"]})
    assert dict(zip(models["model"], models["lever"], strict=True)) == {
        "m1": "a",
        "ref": "reference",
        "m2": "b",
        "other": "",
    }
