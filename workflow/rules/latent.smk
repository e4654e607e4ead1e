rule fit_autoencoder:
    input:
        activations="results/{dataset}/{model}/seed{seed}/activations.npz",
    output:
        codes="results/{dataset}/{model}/seed{seed}/latent/codes.npz",
        fits="results/{dataset}/{model}/seed{seed}/latent/fits.json",
    log:
        "logs/fit_autoencoder/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/fit_autoencoder/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPUS,
        mem_mb=autoencoder_mem,
        runtime=autoencoder_runtime,
    params:
        autoencoder=AUTOENCODER_FIT,
        sizes=get_latent_sizes,
        device=config["device"],
    script:
        "../scripts/fit_autoencoder.py"


rule intrinsic_dimension:
    input:
        activations="results/{dataset}/{model}/seed{seed}/activations.npz",
        fits=get_fits,
    output:
        "results/{dataset}/{model}/seed{seed}/intrinsic_dimension.json",
    log:
        "logs/intrinsic_dimension/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/intrinsic_dimension/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../envs/hull.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        threshold=config["autoencoder"]["r2_threshold"],
        thresholds=sorted(config["autoencoder"]["r2_thresholds"]),
    script:
        "../scripts/intrinsic_dimension.py"
