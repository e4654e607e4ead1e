# Python the rules need, in order: validate the config, build the experiment grid,
# constrain the wildcards, then the input functions.

import hashlib
import json

import yaml

from snakemake.utils import validate

from neuralhull import config_checks

# ---- 1. validate the config (fills in the schema's defaults) -------------------------

# Every config file re-read strictly (a key given twice: refused naming file and line), and
# no control character in any value (a name with a trailing newline would split folders
# and table cells); the sources also let later messages name the file that set a value.
CONFIG_SOURCES = config_checks.config_sources(
    workflow.configfiles,
    workflow.overwrite_configfiles,
    workflow.config_settings.config,
)
config_checks.check_text(config, CONFIG_SOURCES)
validate(config, schema="../schemas/config.schema.yaml", set_default=True)


def _model_defaults():
    """Defaults of a model entry, from the schema (the one place they are written)."""
    with open(workflow.source_path("../schemas/config.schema.yaml")) as fh:
        schema = yaml.safe_load(fh)
    props = schema["properties"]["models"]["items"]["properties"]
    return {key: spec["default"] for key, spec in props.items() if "default" in spec}


def _unique(entries, what):
    names = [e["name"] for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(
            f"config: {what} names must be unique; repeated: {', '.join(dupes)}"
        )
    return {e["name"]: e for e in entries}


MODEL_SPECS = {
    name: {**_model_defaults(), **entry}
    for name, entry in _unique(config["models"], "models").items()
}
DATASET_MODELS = {
    name: sorted(entry["models"])
    for name, entry in _unique(config["datasets"], "datasets").items()
}

# Shape and size of each dataset's canonical arrays, as neuralhull.datasets.DATASETS writes
# them (tests/unit/test_datasets.py checks that the two agree): channels, height, width, images in
# all, images in the standard test split (None: split by data.test_fraction).
DATASET_SHAPES = {
    "digits": (1, 8, 8, 1797, None),
    "mnist": (1, 28, 28, 70000, 10000),
    "fashion_mnist": (1, 28, 28, 70000, 10000),
    "cifar10": (3, 32, 32, 60000, 10000),
}
INPUT_DIMENSION = {name: c * h * w for name, (c, h, w, _, _) in DATASET_SHAPES.items()}

# Folder names under results/{dataset}/ that are not models.
RESERVED_NAMES = {"input", "summary", "figures", "theory"}

for _m in MODEL_SPECS:
    if _m in RESERVED_NAMES:
        raise ValueError(
            f"config: models: name {_m!r} is reserved (results/{{dataset}}/{_m}/ holds "
            f"other results); choose another name (reserved: {', '.join(sorted(RESERVED_NAMES))})"
        )
for _ds, _models in DATASET_MODELS.items():
    for _m in _models:
        if _m not in MODEL_SPECS:
            raise ValueError(
                f"config: dataset {_ds!r} lists model {_m!r}, which is not defined under "
                f"models: (defined: {', '.join(MODEL_SPECS)})"
            )
        if MODEL_SPECS[_m]["arch"] == "resnet18" and DATASET_SHAPES[_ds][0] != 3:
            raise ValueError(
                f"config: dataset {_ds!r} lists model {_m!r} (arch resnet18), which needs "
                f"3-channel images; {_ds} has {DATASET_SHAPES[_ds][0]} channel(s): use mlp or "
                "cnn for it"
            )

# What the data decide, checked now rather than mid-run: integers where the schema says so
# (it counts 1.0 as one), seeds that scikit-learn takes, a split with every class on both
# sides, proximity.k within the training set, widths above the smallest latent size.
DATASET_CLASSES = {"digits": 10, "mnist": 10, "fashion_mnist": 10, "cifar10": 10}
with open(workflow.source_path("../schemas/config.schema.yaml")) as _fh:
    config_checks.check_integers(config, yaml.safe_load(_fh), CONFIG_SOURCES)
config_checks.check_seeds(config, CONFIG_SOURCES)
config_checks.check_split(config, DATASET_SHAPES, DATASET_CLASSES, CONFIG_SOURCES)
config_checks.check_proximity_k(config, DATASET_SHAPES, CONFIG_SOURCES)
config_checks.check_widths(config, MODEL_SPECS, CONFIG_SOURCES)
config_checks.check_levers(config, MODEL_SPECS, CONFIG_SOURCES)


# ---- 2. the experiment grid ----------------------------------------------------------


DATASETS = sorted(DATASET_MODELS)
MODELS = sorted({m for models in DATASET_MODELS.values() for m in models})
# Every model is trained once per seed; the seed is a path level, results/.../{model}/seed{s}/.
SEEDS = sorted(config["seeds"])
# The zoo's levers on each dataset: lever -> its models there, worst to best (config order).
DATASET_LEVERS = {
    ds: config_checks.dataset_levers(config["levers"], models)
    for ds, models in DATASET_MODELS.items()
}
LATENT_SIZES = sorted(config["autoencoder"]["latent_sizes"])
# Latent and PCA sizes whose spaces are scored (hull and proximity); the intrinsic space,
# each model's own chosen latent size, is always scored.
SCORED_SIZES = sorted(config["hull"]["scored_sizes"])
SUMMARY_TABLES = [
    "findings",
    "sensitivity",
    "zoo",
    "models",
    "latent",
    "hull",
    "measures",
    "deciles",
]
FIGURES = [
    "findings",
    "fraction_inside",
    "reconstruction",
    "intrinsic_vs_accuracy",
    "accuracy_by_decile",
    "auroc",
]


def hidden_size(model):
    """Width of a model's last hidden layer."""
    spec = MODEL_SPECS[model]
    return 512 if spec["arch"] == "resnet18" else spec["width"]


def latent_sizes(model):
    """Latent sizes swept for a model: the configured sizes below the width of its last
    hidden layer, and the width itself (no compression), so that the intrinsic dimension
    can reach the width."""
    width = hidden_size(model)
    return [k for k in LATENT_SIZES if k < width] + [width]


def model_spaces(model):
    """Spaces scored per model: activations, the intrinsic space (the autoencoder code at
    the model's chosen size) and, at the scored sizes, the PCA baseline and the codes.
    """
    ks = [k for k in SCORED_SIZES if k < hidden_size(model)]
    latent = [f"latent{k}" for k in ks if k in latent_sizes(model)]
    spaces = ["activation", "intrinsic"] + [f"activation-pca{k}" for k in ks] + latent
    return spaces if latent_sizes(model) else ["activation"]


def input_spaces(dataset):
    """Pixel spaces scored per dataset (model-independent)."""
    if not config["hull"]["input_spaces"]:
        return []
    return ["input"] + [
        f"input-pca{k}" for k in SCORED_SIZES if k < INPUT_DIMENSION[dataset]
    ]


def runs(dataset):
    """(model, seed) of every trained classifier of a dataset."""
    return [(m, s) for m in DATASET_MODELS[dataset] for s in SEEDS]


def run_dir(dataset, model, seed):
    return f"results/{dataset}/{model}/seed{seed}"


def canonical(obj):
    """``obj`` with dict keys sorted at every level: Snakemake compares params by their text,
    so key order in a config file must not make a finished job look stale."""
    if isinstance(obj, dict):
        return {key: canonical(obj[key]) for key in sorted(obj)}
    if isinstance(obj, list):
        return [canonical(v) for v in obj]
    return obj


def only(section, keys):
    """The keys of a config section that a job's result depends on, canonically ordered."""
    return canonical({key: config[section][key] for key in keys})


def theory_only(experiment, keys, **extra):
    """``only`` for the section ``theory.<experiment>``, with ``extra`` entries (a sampler's
    settings, a table version)."""
    return canonical(
        {**{key: config["theory"][experiment][key] for key in keys}, **extra}
    )


# GPUs asked of the scheduler per torch job: one when the config says `device: cuda`
# (`auto` uses a GPU if the node has one but requests none).
GPUS = 1 if config["device"] == "cuda" else 0

# What each kind of job depends on: editing anything else does not rerun it.
AUTOENCODER_FIT = only(
    "autoencoder",
    ["hidden", "epochs", "lr", "batch_size", "validation_fraction", "seed"],
)
HULL_QUERIES = only("hull", ["max_queries", "seed", "tol"])


def digest(obj):
    """Short deterministic hash of a JSON-able object (provenance of the tables)."""
    text = json.dumps(obj, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---- 3. wildcard constraints ---------------------------------------------------------


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="|".join(MODELS),
    seed="|".join(str(s) for s in SEEDS),
    k=r"\d+",
    space="|".join(sorted({s for m in MODELS for s in model_spaces(m)})),
    input_space="|".join(
        sorted({s for ds in DATASETS for s in input_spaces(ds)}) or ["input"]
    ),


# ---- 4. input functions --------------------------------------------------------------


# The two files of an acquired dataset: the arrays and their checksums.
DATASET_FILES = [".npz", ".npz.sha256.json"]


def get_final_output():
    """Every file the workflow writes, logs and benchmarks aside: the report's tables and
    figures and every intermediate. Snakemake looks for missing files only among its targets
    and the inputs of jobs that run anyway, so a lost intermediate whose consumers are up to
    date is rebuilt only if it is listed here."""
    out = []
    for ds in DATASETS:
        out += expand("resources/data/{dataset}{ext}", dataset=ds, ext=DATASET_FILES)
        for m, seed in runs(ds):
            out += run_outputs(ds, m, seed)
        out += expand(
            "results/{dataset}/input/{kind}/{space}.tsv",
            dataset=ds,
            kind=["hull", "proximity"],
            space=input_spaces(ds),
        )
        out += expand(
            "results/{dataset}/summary/{table}.tsv", dataset=ds, table=SUMMARY_TABLES
        )
        out += expand(
            "results/{dataset}/figures/{figure}.png", dataset=ds, figure=FIGURES
        )
        # the tables as pages the report opens, and the front page's verdicts
        out += expand(
            "results/{dataset}/summary/html/{page}.html",
            dataset=ds,
            page=SUMMARY_TABLES + ["verdicts"],
        )
    if len(DATASETS) > 1:
        out += [
            "results/summary/verdicts_by_dataset.tsv",
            "results/summary/html/verdicts_by_dataset.html",
        ]
    if config["theory"].get("enabled", False):
        out += get_theory_output()
    return out


def run_outputs(dataset, model, seed):
    """Every file of one trained classifier: the training job's, the autoencoder fit's
    (when its layer is wider than a latent size), the intrinsic dimension and the hull and
    proximity tables of each scored space."""
    base = run_dir(dataset, model, seed)
    out = [
        f"{base}/{name}"
        for name in [
            "model.pt",
            "train_metrics.json",
            "activations.npz",
            "predictions.tsv",
            "intrinsic_dimension.json",
        ]
    ]
    if latent_sizes(model):
        out += [f"{base}/latent/codes.npz", f"{base}/latent/fits.json"]
    out += expand(
        "{base}/{kind}/{space}.tsv",
        base=base,
        kind=["hull", "proximity"],
        space=model_spaces(model),
    )
    return out


def get_theory_output():
    """The theory branch's tables and figures (experiments: workflow/rules/theory.smk), the
    per-job tables they collect and the bottleneck networks of the embedding sweep."""
    out = expand("results/theory/{experiment}.tsv", experiment=THEORY_EXPERIMENTS)
    out += expand(
        "results/theory/figures/{experiment}.png", experiment=THEORY_EXPERIMENTS
    )
    for experiment in THEORY_EXPERIMENTS:
        out += THEORY_PARTS[experiment]
    return out + expand(
        "results/theory/embedding/{dataset}/{k}/{name}",
        dataset=THEORY_DATASETS,
        k=EMBEDDING_SIZES,
        name=["model.pt", "embeddings.npz", "train_metrics.json"],
    )


def model_params(wildcards):
    """The training settings of one model and seed: only its own entry (the name is the
    result's path, not a setting), so editing another model or the levers does not rerun
    it."""
    spec = {k: v for k, v in MODEL_SPECS[wildcards.model].items() if k != "name"}
    return canonical({**spec, "seed": int(wildcards.seed)})


def train_checkpoint(wildcards):
    """Where a training job keeps its per-epoch checkpoint: outside its declared outputs,
    which Snakemake deletes before rerunning a killed job; removed when the job ends."""
    return f"checkpoints/train_model/{wildcards.dataset}/{wildcards.model}/seed{wildcards.seed}.pt"


def bottleneck_checkpoint(wildcards):
    """The per-epoch checkpoint of a bottleneck network of the embedding sweep (as
    train_checkpoint: outside the outputs, removed when the job ends)."""
    k = wildcards.get("k", "shared")  # shared: every k trained together
    return f"checkpoints/theory_train_bottleneck/{wildcards.dataset}/{k}.pt"


def get_split_params(wildcards):
    """The train/test split settings, for datasets without a standard split (digits) only:
    editing them must not re-acquire, and so retrain on, datasets that ignore them."""
    if DATASET_SHAPES[wildcards.dataset][4] is not None:
        return {}
    return {
        "seed": config["data"]["split_seed"],
        "test_fraction": config["data"]["test_fraction"],
    }


def get_space_inputs(wildcards):
    """What a model-level space is computed from."""
    base = run_dir(wildcards.dataset, wildcards.model, wildcards.seed)
    if wildcards.space.startswith("latent"):
        return {"codes": f"{base}/latent/codes.npz"}
    if wildcards.space == "intrinsic":
        return {
            "codes": f"{base}/latent/codes.npz",
            "intrinsic": f"{base}/intrinsic_dimension.json",
        }
    return {"activations": f"{base}/activations.npz"}


def get_score_inputs(wildcards):
    """A model-level space's points plus the model's labels and predictions."""
    inputs = get_space_inputs(wildcards)
    base = run_dir(wildcards.dataset, wildcards.model, wildcards.seed)
    inputs["activations"] = f"{base}/activations.npz"
    return inputs


def get_fits(wildcards):
    """The batched autoencoder fit of a run, when its layer is wider than a latent size."""
    if not latent_sizes(wildcards.model):
        return []
    base = run_dir(wildcards.dataset, wildcards.model, wildcards.seed)
    return [f"{base}/latent/fits.json"]


def get_latent_sizes(wildcards):
    return latent_sizes(wildcards.model)


def dataset_models(dataset):
    return DATASET_MODELS[dataset]


def get_analysis_inputs(wildcards):
    """Every per-model result of a dataset that the summary tables read."""
    ds = wildcards.dataset
    inputs = {
        "models": [],
        "predictions": [],
        "intrinsic": [],
        "fits": [],
        "hull": [],
        "proximity": [],
    }
    for m, seed in runs(ds):
        base = run_dir(ds, m, seed)
        inputs["models"].append(f"{base}/train_metrics.json")
        inputs["predictions"].append(f"{base}/predictions.tsv")
        inputs["intrinsic"].append(f"{base}/intrinsic_dimension.json")
        inputs["fits"] += [f"{base}/latent/fits.json"] if latent_sizes(m) else []
        inputs["hull"] += [f"{base}/hull/{s}.tsv" for s in model_spaces(m)]
        inputs["proximity"] += [f"{base}/proximity/{s}.tsv" for s in model_spaces(m)]
    inputs["hull"] += [f"results/{ds}/input/hull/{s}.tsv" for s in input_spaces(ds)]
    inputs["proximity"] += [
        f"results/{ds}/input/proximity/{s}.tsv" for s in input_spaces(ds)
    ]
    return inputs


def get_levers(wildcards):
    """The dataset's levers, lever -> its models worst to best: the one job the levers
    reach (the tables show each model's lever, the findings test the trend along each).
    """
    return DATASET_LEVERS[wildcards.dataset]


def analysis_provenance(wildcards):
    """Config hash and seeds recorded in every summary table."""
    ds = wildcards.dataset
    relevant = {
        "dataset": ds,
        "data": config["data"],
        "models": {m: MODEL_SPECS[m] for m in dataset_models(ds)},
        "levers": DATASET_LEVERS[ds],  # the tables show them
        "autoencoder": config["autoencoder"],
        "hull": config["hull"],
        "proximity": config["proximity"],
        "analysis": config["analysis"],
        "findings": config["findings"],
        "seeds": SEEDS,
    }
    return {
        "config_sha256": digest(relevant),
        "model_seeds": json.dumps({m: SEEDS for m in dataset_models(ds)}),
        "split_seed": config["data"]["split_seed"],
        "autoencoder_seed": config["autoencoder"]["seed"],
        "hull_seed": config["hull"]["seed"],
        "bootstrap_seed": config["analysis"]["seed"],
    }
