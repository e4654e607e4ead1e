# Theory branch (`config: theory`): how often does a new sample fall inside the convex hull
# of a training set? (1) random samples vs N and d, Monte Carlo beside the exact formulas;
# (2) real images seen in growing dimension (PCA, centred crop, smoothing + subsampling) and
# the embeddings of CNNs with a k-unit bottleneck; (3) ridgeless least squares vs gamma = p / n.
# Every experiment is split into independent jobs whose paths carry what they depend on;
# one summary job per experiment collects the parts into a table and a figure.

THEORY = config["theory"]
EMBEDDING_SIZES = sorted(THEORY["embedding"]["sizes"])  # bottleneck sizes k, ascending
# target dimensions k of the real-data sweep, ascending
REAL_DIMENSIONS = sorted(THEORY["real_data"]["dimensions"])
THEORY_EXPERIMENTS = [
    "hull_probability",
    "real_dimension",
    "embedding",
    "double_descent",
]
THEORY_DATASETS = THEORY["real_data"]["datasets"]

# What the schema cannot say: the real-data grid fits the dataset, no gamma is 1, the
# low-rank Gaussian has a dimension d >= rank, the curve's frequency range is ordered.
if THEORY["enabled"]:
    _unlisted = [d for d in THEORY_DATASETS if d not in DATASETS]
    if _unlisted:
        raise ValueError(
            f"config: theory.real_data.datasets {_unlisted} must also be listed under "
            f"datasets: (listed: {', '.join(DATASETS)})"
        )
    for _dataset in THEORY_DATASETS:
        _too_big = [
            k
            for k in THEORY["real_data"]["dimensions"]
            if k > INPUT_DIMENSION[_dataset]
        ]
        if _too_big:
            raise ValueError(
                f"config: theory.real_data.dimensions {_too_big} exceed the dimension "
                f"{INPUT_DIMENSION[_dataset]} of {_dataset}"
            )
    _n = THEORY["double_descent"]["n"]
    _at_one = [
        g for g in THEORY["double_descent"]["gammas"] if max(1, round(g * _n)) == _n
    ]
    if _at_one:
        raise ValueError(
            f"config: theory.double_descent.gammas {_at_one} give p = n = {_n} (gamma = 1, "
            "where the risk is infinite); move them away from 1"
        )
    _hp = THEORY["hull_probability"]
    if "low-rank-gaussian" in _hp["kinds"] and max(_hp["dimensions"]) < _hp["rank"]:
        raise ValueError(
            f"config: theory.hull_probability.rank {_hp['rank']} exceeds every dimension "
            f"{_hp['dimensions']}; the low-rank-gaussian kind needs some d >= rank (cells "
            "with d < rank are skipped)"
        )
    _low, _high = _hp["curve_frequencies"]
    if not _low < _high:
        raise ValueError(
            f"config: theory.hull_probability.curve_frequencies {[_low, _high]} must be "
            "[low, high] with low < high"
        )

# The per-job tables each experiment's summary collects.
THEORY_PARTS = {
    "hull_probability": expand(
        "results/theory/hull_probability/{kind}.tsv",
        kind=THEORY["hull_probability"]["kinds"],
    ),
    "real_dimension": expand(
        "results/theory/real_dimension/{dataset}/{method}/{k}.tsv",
        dataset=THEORY_DATASETS,
        method=THEORY["real_data"]["methods"],
        k=REAL_DIMENSIONS,
    ),
    "embedding": expand(
        "results/theory/embedding/{dataset}/{k}/{reading}.tsv",
        dataset=THEORY_DATASETS,
        k=EMBEDDING_SIZES,
        reading=THEORY["embedding"]["readings"],
    ),
    "double_descent": expand(
        "results/theory/double_descent/{features}.tsv",
        features=THEORY["double_descent"]["models"],
    ),
}


# What each kind of theory job depends on: editing anything else does not rerun it.
# The Monte-Carlo grid of each kind; under "sampler" the settings of that kind's sampler
# only (rank and map seed of the low-rank Gaussian, seed and frequency range of the curve).
# Low-rank cells with d < rank are skipped by the job (and logged), not planned away here.
HULL_PROBABILITY_SAMPLER = {
    "gaussian": [],
    "curve": ["curve_seed", "curve_frequencies"],
    "low-rank-gaussian": ["rank", "map_seed"],
}
HULL_PROBABILITY_GRID = {
    kind: theory_only(
        "hull_probability",
        ["dimensions", "sizes", "trials", "queries_per_set", "seed", "tol"],
        sampler=theory_only("hull_probability", HULL_PROBABILITY_SAMPLER[kind]),
    )
    for kind in THEORY["hull_probability"]["kinds"]
}
THEORY_QUERIES = theory_only("real_data", ["max_queries", "seed", "tol"])
# the networks, then their training (neuralhull.theory.embedding.BottleneckNetworks)
THEORY_TRAINING = theory_only(
    "embedding",
    ["arch", "channels", "depth", "shared_trunk"]
    + ["epochs", "lr", "lr_decay", "warmup_steps", "optimizer", "batch_size", "seed"],
)
# table_version is bumped when the table's columns change: results of an older version rerun
THEORY_RIDGELESS = theory_only(
    "double_descent",
    ["n", "gammas", "snrs", "seeds", "sigma2", "n_test", "n_latent"],
    table_version=2,
)

# Config hash and seeds recorded in each experiment's summary table.
_REAL = {
    "real_data": THEORY["real_data"],
    "split": {key: config["data"][key] for key in ["split_seed", "test_fraction"]},
}
THEORY_PROVENANCE = {
    "hull_probability": {
        "config_sha256": digest(THEORY["hull_probability"]),
        "mc_seed": THEORY["hull_probability"]["seed"],
        "curve_seed": THEORY["hull_probability"]["curve_seed"],
        "map_seed": THEORY["hull_probability"]["map_seed"],
    },
    "real_dimension": {
        "config_sha256": digest(_REAL),
        "subsample_seed": THEORY["real_data"]["seed"],
    },
    "embedding": {
        "config_sha256": digest({**_REAL, "embedding": THEORY["embedding"]}),
        "subsample_seed": THEORY["real_data"]["seed"],
        "training_seed": THEORY["embedding"]["seed"],
    },
    "double_descent": {
        "config_sha256": digest(THEORY["double_descent"]),
        "simulation_seeds": json.dumps(THEORY["double_descent"]["seeds"]),
    },
}


rule theory_hull_probability:
    output:
        "results/theory/hull_probability/{kind}.tsv",
    log:
        "logs/theory_hull_probability/{kind}.log",
    benchmark:
        "benchmarks/theory_hull_probability/{kind}.tsv"
    wildcard_constraints:
        kind="|".join(THEORY["hull_probability"]["kinds"]),
    conda:
        "../envs/hull.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=theory_probability_runtime,
    params:
        grid=lambda wildcards: HULL_PROBABILITY_GRID[wildcards.kind],
    script:
        "../scripts/theory_hull_probability.py"


# Every target dimension of one method in one job: the images are loaded, and their
# principal axes found, once.
rule theory_real_dimension:
    input:
        data="resources/data/{dataset}.npz",
    output:
        expand(
            "results/theory/real_dimension/{{dataset}}/{{method}}/{k}.tsv",
            k=REAL_DIMENSIONS,
        ),
    log:
        "logs/theory_real_dimension/{dataset}/{method}.log",
    benchmark:
        "benchmarks/theory_real_dimension/{dataset}/{method}.tsv"
    wildcard_constraints:
        method="|".join(THEORY["real_data"]["methods"]),
    conda:
        "../envs/hull.yaml"
    threads: 1
    resources:
        mem_mb=theory_real_mem,
        runtime=theory_real_runtime,
    params:
        hull=THEORY_QUERIES,
        dimensions=REAL_DIMENSIONS,
    script:
        "../scripts/theory_real_dimension.py"


if THEORY["embedding"]["shared_trunk"]:

    rule theory_train_bottlenecks:
        input:
            data="resources/data/{dataset}.npz",
        output:
            weights=expand(
                "results/theory/embedding/{{dataset}}/{k}/model.pt", k=EMBEDDING_SIZES
            ),
            embeddings=expand(
                "results/theory/embedding/{{dataset}}/{k}/embeddings.npz",
                k=EMBEDDING_SIZES,
            ),
            metrics=expand(
                "results/theory/embedding/{{dataset}}/{k}/train_metrics.json",
                k=EMBEDDING_SIZES,
            ),
        log:
            "logs/theory_train_bottlenecks/{dataset}.log",
        benchmark:
            "benchmarks/theory_train_bottlenecks/{dataset}.tsv"
        conda:
            "../envs/torch.yaml"
        threads: 1
        resources:
            gpu=GPUS,
            mem_mb=torch_data_mem,
            runtime=theory_bottleneck_runtime,
        params:
            training=THEORY_TRAINING,
            sizes=EMBEDDING_SIZES,
            device=config["device"],
            checkpoint=bottleneck_checkpoint,
        script:
            "../scripts/theory_train_bottleneck.py"

else:

    rule theory_train_bottleneck:
        input:
            data="resources/data/{dataset}.npz",
        output:
            weights="results/theory/embedding/{dataset}/{k}/model.pt",
            embeddings="results/theory/embedding/{dataset}/{k}/embeddings.npz",
            metrics="results/theory/embedding/{dataset}/{k}/train_metrics.json",
        log:
            "logs/theory_train_bottleneck/{dataset}/{k}.log",
        benchmark:
            "benchmarks/theory_train_bottleneck/{dataset}/{k}.tsv"
        conda:
            "../envs/torch.yaml"
        # one thread: small convolutions gain nothing from a second one, and two
        # single-threaded jobs use 2 cores better
        threads: 1
        resources:
            gpu=GPUS,
            mem_mb=torch_data_mem,
            runtime=theory_bottleneck_runtime,
        params:
            training=THEORY_TRAINING,
            device=config["device"],
            checkpoint=bottleneck_checkpoint,
        script:
            "../scripts/theory_train_bottleneck.py"


# Every bottleneck size and reading of a dataset in one job.
rule theory_embedding_hull:
    input:
        embeddings=expand(
            "results/theory/embedding/{{dataset}}/{k}/embeddings.npz",
            k=EMBEDDING_SIZES,
        ),
        metrics=expand(
            "results/theory/embedding/{{dataset}}/{k}/train_metrics.json",
            k=EMBEDDING_SIZES,
        ),
    output:
        expand(
            "results/theory/embedding/{{dataset}}/{k}/{reading}.tsv",
            k=EMBEDDING_SIZES,
            reading=THEORY["embedding"]["readings"],
        ),
    log:
        "logs/theory_embedding_hull/{dataset}.log",
    benchmark:
        "benchmarks/theory_embedding_hull/{dataset}.tsv"
    conda:
        "../envs/hull.yaml"
    threads: 1
    resources:
        mem_mb=theory_embedding_mem,
        runtime=theory_embedding_runtime,
    params:
        hull=THEORY_QUERIES,
        sizes=EMBEDDING_SIZES,
        readings=THEORY["embedding"]["readings"],
    script:
        "../scripts/theory_embedding_hull.py"


rule theory_double_descent:
    output:
        "results/theory/double_descent/{features}.tsv",
    log:
        "logs/theory_double_descent/{features}.log",
    benchmark:
        "benchmarks/theory_double_descent/{features}.tsv"
    wildcard_constraints:
        features="|".join(THEORY["double_descent"]["models"]),
    conda:
        "../envs/hull.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        ridgeless=THEORY_RIDGELESS,
    script:
        "../scripts/theory_double_descent.py"


# One summary job per experiment: its parts collected into a table and a figure. The
# caption is one file whose sections are keyed on the experiment (Snakemake renders it with
# the job's wildcards).
rule theory_summary:
    input:
        parts=lambda wildcards: THEORY_PARTS[wildcards.experiment],
    output:
        table=report(
            "results/theory/{experiment}.tsv",
            caption="../report/theory_summary.rst",
            category="4. Theory",
            subcategory="Tables",
        ),
        figure=report(
            "results/theory/figures/{experiment}.png",
            caption="../report/theory_summary.rst",
            category="4. Theory",
            subcategory="Figures",
        ),
    log:
        "logs/theory_summary/{experiment}.log",
    benchmark:
        "benchmarks/theory_summary/{experiment}.tsv"
    wildcard_constraints:
        experiment="|".join(THEORY_EXPERIMENTS),
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        provenance=lambda wildcards: THEORY_PROVENANCE[wildcards.experiment],
    script:
        "../scripts/theory_summary.py"
