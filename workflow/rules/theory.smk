# Theory branch (`config: theory`): how often does a new sample fall inside the convex hull
# of a training set? (1) random samples vs N and d, Monte Carlo beside the exact formulas;
# (2) real images seen in growing dimension (PCA, centred crop, smoothing + subsampling) and
# the embeddings of CNNs with a k-unit bottleneck; (3) ridgeless least squares vs gamma = p / n.
# Every experiment is split into independent jobs whose paths carry what they depend on;
# one summary job per experiment collects the parts into a table and a figure.

THEORY = config["theory"]
THEORY_EXPERIMENTS = [
    "hull_probability",
    "real_dimension",
    "embedding",
    "double_descent",
]
THEORY_DATASET = THEORY["real_data"]["dataset"]


def _theory_checks():
    """What the schema cannot say: the real-data grid fits the dataset, no gamma is 1."""
    if THEORY_DATASET not in DATASETS:
        raise ValueError(
            f"config: theory.real_data.dataset {THEORY_DATASET!r} must also be listed under "
            f"datasets: (listed: {', '.join(DATASETS)})"
        )
    too_big = [
        k
        for k in THEORY["real_data"]["dimensions"]
        if k > INPUT_DIMENSION[THEORY_DATASET]
    ]
    if too_big:
        raise ValueError(
            f"config: theory.real_data.dimensions {too_big} exceed the dimension "
            f"{INPUT_DIMENSION[THEORY_DATASET]} of {THEORY_DATASET}"
        )
    n = THEORY["double_descent"]["n"]
    at_one = [
        g for g in THEORY["double_descent"]["gammas"] if max(1, round(g * n)) == n
    ]
    if at_one:
        raise ValueError(
            f"config: theory.double_descent.gammas {at_one} give p = n = {n} (gamma = 1, "
            "where the risk is infinite); move them away from 1"
        )


if THEORY["enabled"]:
    _theory_checks()


def get_theory_parts(experiment):
    """The per-job tables an experiment's summary collects."""
    if experiment == "hull_probability":
        return expand(
            "results/theory/hull_probability/{kind}.tsv",
            kind=THEORY["hull_probability"]["kinds"],
        )
    if experiment == "real_dimension":
        return expand(
            "results/theory/real_dimension/{dataset}/{method}/{k}.tsv",
            dataset=THEORY_DATASET,
            method=THEORY["real_data"]["methods"],
            k=sorted(THEORY["real_data"]["dimensions"]),
        )
    if experiment == "embedding":
        return expand(
            "results/theory/embedding/{dataset}/{k}/hull.tsv",
            dataset=THEORY_DATASET,
            k=sorted(THEORY["embedding"]["sizes"]),
        )
    return expand(
        "results/theory/double_descent/{features}.tsv",
        features=THEORY["double_descent"]["models"],
    )


def hull_probability_params(wildcards):
    """The Monte-Carlo grid of one kind (the rank only matters to the low-rank kind)."""
    keys = ["dimensions", "sizes", "trials", "queries_per_set", "seed", "tol"]
    if wildcards.kind == "low-rank-gaussian":
        keys.append("rank")
    return canonical({key: THEORY["hull_probability"][key] for key in keys})


# What each kind of theory job depends on: editing anything else does not rerun it.
THEORY_QUERIES = canonical(
    {key: THEORY["real_data"][key] for key in ["max_queries", "seed", "tol"]}
)
THEORY_TRAINING = canonical(
    {
        key: THEORY["embedding"][key]
        for key in ["channels", "depth", "epochs", "lr", "batch_size", "seed"]
    }
)
THEORY_RIDGELESS = canonical(
    {
        key: THEORY["double_descent"][key]
        for key in ["n", "gammas", "snrs", "seeds", "sigma2", "n_test", "n_latent"]
    }
)


def theory_provenance(experiment):
    """Config hash and seeds recorded in an experiment's summary table."""
    if experiment == "hull_probability":
        section = THEORY["hull_probability"]
        seeds = {"mc_seed": section["seed"]}
    elif experiment == "double_descent":
        section = THEORY["double_descent"]
        seeds = {"simulation_seeds": json.dumps(section["seeds"])}
    else:
        section = {"real_data": THEORY["real_data"], "data": config["data"]}
        seeds = {"subsample_seed": THEORY["real_data"]["seed"]}
        if experiment == "embedding":
            section["embedding"] = THEORY["embedding"]
            seeds["training_seed"] = THEORY["embedding"]["seed"]
    return {"experiment": experiment, "config_sha256": digest(section), **seeds}


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
        "../../envs/hull.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        grid=hull_probability_params,
    script:
        "../../scripts/theory_hull_probability.py"


rule theory_real_dimension:
    input:
        data="resources/data/{dataset}.npz",
    output:
        "results/theory/real_dimension/{dataset}/{method}/{k}.tsv",
    log:
        "logs/theory_real_dimension/{dataset}/{method}/{k}.log",
    benchmark:
        "benchmarks/theory_real_dimension/{dataset}/{method}/{k}.tsv"
    wildcard_constraints:
        method="|".join(THEORY["real_data"]["methods"]),
    conda:
        "../../envs/hull.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=60,
    params:
        hull=THEORY_QUERIES,
    script:
        "../../scripts/theory_real_dimension.py"


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
        "../../envs/torch.yaml"
    # one thread: small convolutions gain nothing from a second one, and two
    # single-threaded jobs use 2 cores better
    threads: 1
    resources:
        mem_mb=6000,
        runtime=60,
    params:
        training=THEORY_TRAINING,
        device=config["device"],
    script:
        "../../scripts/theory_train_bottleneck.py"


rule theory_embedding_hull:
    input:
        embeddings="results/theory/embedding/{dataset}/{k}/embeddings.npz",
        metrics="results/theory/embedding/{dataset}/{k}/train_metrics.json",
    output:
        "results/theory/embedding/{dataset}/{k}/hull.tsv",
    log:
        "logs/theory_embedding_hull/{dataset}/{k}.log",
    benchmark:
        "benchmarks/theory_embedding_hull/{dataset}/{k}.tsv"
    conda:
        "../../envs/hull.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        hull=THEORY_QUERIES,
    script:
        "../../scripts/theory_embedding_hull.py"


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
        "../../envs/hull.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        ridgeless=THEORY_RIDGELESS,
    script:
        "../../scripts/theory_double_descent.py"


rule theory_summary_hull_probability:
    input:
        parts=get_theory_parts("hull_probability"),
    output:
        table=report(
            "results/theory/hull_probability.tsv",
            caption="../report/theory_hull_probability.rst",
            category="theory",
            subcategory="Tables",
        ),
        figure=report(
            "results/theory/figures/hull_probability.png",
            caption="../report/theory_hull_probability.rst",
            category="theory",
            subcategory="Figures",
        ),
    log:
        "logs/theory_summary/hull_probability.log",
    benchmark:
        "benchmarks/theory_summary/hull_probability.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        experiment="hull_probability",
        provenance=theory_provenance("hull_probability"),
    script:
        "../../scripts/theory_summary.py"


rule theory_summary_real_dimension:
    input:
        parts=get_theory_parts("real_dimension"),
    output:
        table=report(
            "results/theory/real_dimension.tsv",
            caption="../report/theory_real_dimension.rst",
            category="theory",
            subcategory="Tables",
        ),
        figure=report(
            "results/theory/figures/real_dimension.png",
            caption="../report/theory_real_dimension.rst",
            category="theory",
            subcategory="Figures",
        ),
    log:
        "logs/theory_summary/real_dimension.log",
    benchmark:
        "benchmarks/theory_summary/real_dimension.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        experiment="real_dimension",
        provenance=theory_provenance("real_dimension"),
    script:
        "../../scripts/theory_summary.py"


rule theory_summary_embedding:
    input:
        parts=get_theory_parts("embedding"),
    output:
        table=report(
            "results/theory/embedding.tsv",
            caption="../report/theory_embedding.rst",
            category="theory",
            subcategory="Tables",
        ),
        figure=report(
            "results/theory/figures/embedding.png",
            caption="../report/theory_embedding.rst",
            category="theory",
            subcategory="Figures",
        ),
    log:
        "logs/theory_summary/embedding.log",
    benchmark:
        "benchmarks/theory_summary/embedding.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        experiment="embedding",
        provenance=theory_provenance("embedding"),
    script:
        "../../scripts/theory_summary.py"


rule theory_summary_double_descent:
    input:
        parts=get_theory_parts("double_descent"),
    output:
        table=report(
            "results/theory/double_descent.tsv",
            caption="../report/theory_double_descent.rst",
            category="theory",
            subcategory="Tables",
        ),
        figure=report(
            "results/theory/figures/double_descent.png",
            caption="../report/theory_double_descent.rst",
            category="theory",
            subcategory="Figures",
        ),
    log:
        "logs/theory_summary/double_descent.log",
    benchmark:
        "benchmarks/theory_summary/double_descent.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        experiment="double_descent",
        provenance=theory_provenance("double_descent"),
    script:
        "../../scripts/theory_summary.py"
