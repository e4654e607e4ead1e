# A space is scored in one job: its points are loaded once, then the hull membership of the
# test samples (hull/{space}.tsv) and their proximity to the training set
# (proximity/{space}.tsv) are written from them.


rule score:
    input:
        unpack(get_score_inputs),
    output:
        hull=report(
            "results/{dataset}/{model}/seed{seed}/hull/{space}.tsv",
            caption="../report/hull_space.rst",
            category="5. Per run",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "model": "{model}",
                "seed": "{seed}",
                "space": "{space}",
            },
        ),
        proximity="results/{dataset}/{model}/seed{seed}/proximity/{space}.tsv",
    log:
        "logs/score/{dataset}/{model}/seed{seed}/{space}.log",
    benchmark:
        "benchmarks/score/{dataset}/{model}/seed{seed}/{space}.tsv"
    conda:
        "../envs/hull.yaml"
    # one core: model spaces are small (d <= width), the engine's pool does not pay there
    threads: 1
    resources:
        mem_mb=score_mem,
        runtime=score_runtime,
    params:
        hull=HULL_QUERIES,
        k=config["proximity"]["k"],
    script:
        "../scripts/score.py"


rule score_input:
    input:
        data="resources/data/{dataset}.npz",
    output:
        hull="results/{dataset}/input/hull/{input_space}.tsv",
        proximity="results/{dataset}/input/proximity/{input_space}.tsv",
    log:
        "logs/score_input/{dataset}/{input_space}.log",
    benchmark:
        "benchmarks/score_input/{dataset}/{input_space}.tsv"
    priority: 10
    conda:
        "../envs/hull.yaml"
    # One core, and first in the queue: the longest scoring job, and a two-core job would
    # wait for both cores to be free at once (docs/performance.md).
    threads: 1
    resources:
        mem_mb=score_mem,
        runtime=score_runtime,
    params:
        hull=HULL_QUERIES,
        k=config["proximity"]["k"],
    script:
        "../scripts/score.py"
