rule fit_autoencoder:
    input:
        activations="results/{dataset}/{model}/activations.npz",
    output:
        codes="results/{dataset}/{model}/latent/{k}/codes.npz",
        fit="results/{dataset}/{model}/latent/{k}/fit.json",
    log:
        "logs/fit_autoencoder/{dataset}/{model}/{k}.log",
    benchmark:
        "benchmarks/fit_autoencoder/{dataset}/{model}/{k}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPUS,
        mem_mb=autoencoder_mem,
        runtime=autoencoder_runtime,
    params:
        autoencoder=AUTOENCODER_FIT,
        device=config["device"],
    script:
        "../../scripts/fit_autoencoder.py"


rule intrinsic_dimension:
    input:
        activations="results/{dataset}/{model}/activations.npz",
        fits=get_fits,
    output:
        "results/{dataset}/{model}/intrinsic_dimension.json",
    log:
        "logs/intrinsic_dimension/{dataset}/{model}.log",
    benchmark:
        "benchmarks/intrinsic_dimension/{dataset}/{model}.tsv"
    conda:
        "../../envs/hull.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        threshold=config["autoencoder"]["r2_threshold"],
    script:
        "../../scripts/intrinsic_dimension.py"
