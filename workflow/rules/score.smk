rule hull_membership:
    input:
        unpack(get_space_inputs),
    output:
        report(
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
    log:
        "logs/hull_membership/{dataset}/{model}/seed{seed}/{space}.log",
    benchmark:
        "benchmarks/hull_membership/{dataset}/{model}/seed{seed}/{space}.tsv"
    conda:
        "../../envs/hull.yaml"
    # one core: model spaces are small (d <= width), the engine's pool does not pay there
    threads: 1
    resources:
        mem_mb=hull_mem,
        runtime=hull_runtime,
    params:
        hull=HULL_QUERIES,
    script:
        "../../scripts/hull_membership.py"


rule hull_membership_input:
    input:
        data="resources/data/{dataset}.npz",
    output:
        "results/{dataset}/input/hull/{input_space}.tsv",
    log:
        "logs/hull_membership_input/{dataset}/{input_space}.log",
    benchmark:
        "benchmarks/hull_membership_input/{dataset}/{input_space}.tsv"
    conda:
        "../../envs/hull.yaml"
    threads: 2
    resources:
        mem_mb=hull_mem,
        runtime=hull_runtime,
    params:
        hull=HULL_QUERIES,
    script:
        "../../scripts/hull_membership.py"


rule proximity:
    input:
        unpack(get_proximity_inputs),
    output:
        "results/{dataset}/{model}/seed{seed}/proximity/{space}.tsv",
    log:
        "logs/proximity/{dataset}/{model}/seed{seed}/{space}.log",
    benchmark:
        "benchmarks/proximity/{dataset}/{model}/seed{seed}/{space}.tsv"
    conda:
        "../../envs/hull.yaml"
    threads: 1
    resources:
        mem_mb=proximity_mem,
        runtime=proximity_runtime,
    params:
        k=config["proximity"]["k"],
    script:
        "../../scripts/proximity.py"


rule proximity_input:
    input:
        data="resources/data/{dataset}.npz",
    output:
        "results/{dataset}/input/proximity/{input_space}.tsv",
    log:
        "logs/proximity_input/{dataset}/{input_space}.log",
    benchmark:
        "benchmarks/proximity_input/{dataset}/{input_space}.tsv"
    conda:
        "../../envs/hull.yaml"
    threads: 1
    resources:
        mem_mb=proximity_mem,
        runtime=proximity_runtime,
    params:
        k=config["proximity"]["k"],
    script:
        "../../scripts/proximity.py"
