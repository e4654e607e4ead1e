# Training ends with one pass over the training and test sets that measures the final
# accuracies and keeps the last hidden layer: the activations come from that pass, not from
# a second job that would reload the data and the weights and run the network again.
rule train_model:
    input:
        data="resources/data/{dataset}.npz",
    output:
        weights="results/{dataset}/{model}/seed{seed}/model.pt",
        metrics="results/{dataset}/{model}/seed{seed}/train_metrics.json",
        activations="results/{dataset}/{model}/seed{seed}/activations.npz",
        predictions="results/{dataset}/{model}/seed{seed}/predictions.tsv",
    log:
        "logs/train_model/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/train_model/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    # one core: small batches leave a second core idle (docs/performance.md)
    threads: 1
    resources:
        gpu=GPUS,
        mem_mb=torch_data_mem,
        runtime=train_runtime,
    params:
        model=model_params,
        device=config["device"],
        checkpoint=train_checkpoint,
    script:
        "../scripts/train_model.py"
