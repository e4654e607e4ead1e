rule summarise:
    input:
        unpack(get_analysis_inputs),
    output:
        findings=report(
            "results/{dataset}/summary/findings.tsv",
            caption="../report/findings.rst",
            category="6. Tables (TSV)",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "findings"},
        ),
        sensitivity=report(
            "results/{dataset}/summary/sensitivity.tsv",
            caption="../report/sensitivity.rst",
            category="6. Tables (TSV)",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "sensitivity"},
        ),
        zoo=report(
            "results/{dataset}/summary/zoo.tsv",
            caption="../report/zoo.rst",
            category="6. Tables (TSV)",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "zoo"},
        ),
        models=report(
            "results/{dataset}/summary/models.tsv",
            caption="../report/models.rst",
            category="6. Tables (TSV)",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "models"},
        ),
        latent=report(
            "results/{dataset}/summary/latent.tsv",
            caption="../report/latent.rst",
            category="6. Tables (TSV)",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "latent"},
        ),
        hull=report(
            "results/{dataset}/summary/hull.tsv",
            caption="../report/hull.rst",
            category="6. Tables (TSV)",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "hull"},
        ),
        measures=report(
            "results/{dataset}/summary/measures.tsv",
            caption="../report/measures.rst",
            category="6. Tables (TSV)",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "measures"},
        ),
        deciles=report(
            "results/{dataset}/summary/deciles.tsv",
            caption="../report/deciles.rst",
            category="6. Tables (TSV)",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "deciles"},
        ),
        findings_html=report(
            "results/{dataset}/summary/html/findings.html",
            caption="../report/findings.rst",
            category="1. Findings",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "item": "answer: the verdict on every claim (table)",
            },
        ),
        sensitivity_html=report(
            "results/{dataset}/summary/html/sensitivity.html",
            caption="../report/sensitivity.rst",
            category="1. Findings",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "item": "how the verdicts move with the thresholds (table)",
            },
        ),
        zoo_html=report(
            "results/{dataset}/summary/html/zoo.html",
            caption="../report/zoo.rst",
            category="2. Models",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "zoo"},
        ),
        models_html=report(
            "results/{dataset}/summary/html/models.html",
            caption="../report/models.rst",
            category="2. Models",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "models (per seed)"},
        ),
        latent_html=report(
            "results/{dataset}/summary/html/latent.html",
            caption="../report/latent.rst",
            category="2. Models",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "latent (per seed)"},
        ),
        hull_html=report(
            "results/{dataset}/summary/html/hull.html",
            caption="../report/hull.rst",
            category="3. Evidence",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "hull (per seed)"},
        ),
        measures_html=report(
            "results/{dataset}/summary/html/measures.html",
            caption="../report/measures.rst",
            category="3. Evidence",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "measures (per seed)"},
        ),
        deciles_html=report(
            "results/{dataset}/summary/html/deciles.html",
            caption="../report/deciles.rst",
            category="3. Evidence",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "table": "deciles (per seed)"},
        ),
        # the front page's verdicts (workflow/report/workflow.rst places it there)
        verdicts="results/{dataset}/summary/html/verdicts.html",
    log:
        "logs/summarise/{dataset}.log",
    benchmark:
        "benchmarks/summarise/{dataset}.tsv"
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        provenance=analysis_provenance,
        interval=config["analysis"]["interval"],
        n_boot=config["analysis"]["n_boot"],
        seed=config["analysis"]["seed"],
        thresholds=sorted(config["autoencoder"]["r2_thresholds"]),
        findings=config["findings"],
        levers=get_levers,
    script:
        "../scripts/summarise.py"


rule figures:
    input:
        findings="results/{dataset}/summary/findings.tsv",
        zoo="results/{dataset}/summary/zoo.tsv",
        models="results/{dataset}/summary/models.tsv",
        latent="results/{dataset}/summary/latent.tsv",
        hull="results/{dataset}/summary/hull.tsv",
        measures="results/{dataset}/summary/measures.tsv",
        deciles="results/{dataset}/summary/deciles.tsv",
    output:
        findings=report(
            "results/{dataset}/figures/findings.png",
            caption="../report/findings_figure.rst",
            category="1. Findings",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "item": "claims at a glance (figure)"},
        ),
        fraction_inside=report(
            "results/{dataset}/figures/fraction_inside.png",
            caption="../report/fraction_inside.rst",
            category="1. Findings",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "item": "claims 1 and 4: fraction inside",
            },
        ),
        reconstruction=report(
            "results/{dataset}/figures/reconstruction.png",
            caption="../report/reconstruction.rst",
            category="1. Findings",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "item": "claim 2: reconstruction"},
        ),
        intrinsic_vs_accuracy=report(
            "results/{dataset}/figures/intrinsic_vs_accuracy.png",
            caption="../report/intrinsic_vs_accuracy.rst",
            category="1. Findings",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "item": "claim 3: dimension vs accuracy",
            },
        ),
        accuracy_by_decile=report(
            "results/{dataset}/figures/accuracy_by_decile.png",
            caption="../report/accuracy_by_decile.rst",
            category="3. Evidence",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "accuracy by decile"},
        ),
        auroc=report(
            "results/{dataset}/figures/auroc.png",
            caption="../report/auroc.rst",
            category="1. Findings",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "item": "claim 5: AUROC"},
        ),
    log:
        "logs/figures/{dataset}.log",
    benchmark:
        "benchmarks/figures/{dataset}.tsv"
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        threshold=config["autoencoder"]["r2_threshold"],
        thresholds=sorted(config["autoencoder"]["r2_thresholds"]),
    script:
        "../scripts/figures.py"


# Claim by claim, whether the datasets reach the same verdicts (with two or more datasets).
rule compare_datasets:
    input:
        findings=expand("results/{dataset}/summary/findings.tsv", dataset=DATASETS),
    output:
        table=report(
            "results/summary/verdicts_by_dataset.tsv",
            caption="../report/verdicts_by_dataset.rst",
            category="6. Tables (TSV)",
            subcategory="every dataset",
            labels={"dataset": "every dataset", "table": "verdicts by dataset"},
        ),
        html=report(
            "results/summary/html/verdicts_by_dataset.html",
            caption="../report/verdicts_by_dataset.rst",
            category="1. Findings",
            subcategory="every dataset",
            labels={
                "dataset": "every dataset",
                "item": "do the datasets agree? (table)",
            },
        ),
    log:
        "logs/compare_datasets.log",
    benchmark:
        "benchmarks/compare_datasets.tsv"
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        datasets=DATASETS,
    script:
        "../scripts/compare_datasets.py"
