# Resources each job asks of the scheduler (`runtime` in minutes, `mem_mb`): the callables the
# rules name. Each reads a job's wildcards and the config and asks the cost model,
# neuralhull.cost, which holds the formulas and their constants. Only the config and
# common.smk's names are read here, so this file does not depend on the stages after it.
# tests/workflow/test_resources.py checks that a finished tiny run stayed within every request.

from neuralhull import cost


def data_size(dataset):
    return cost.DataSize.from_shape(DATASET_SHAPES[dataset], config)


def space_dimension(wildcards):
    """Dimension of the space a hull or proximity job works in."""
    model = wildcards.get("model")  # pixel spaces have none
    return cost.space_dimension(
        wildcards.get("space") or wildcards.get("input_space"),
        input_dimension=INPUT_DIMENSION[wildcards.dataset],
        hidden=hidden_size(model) if model else None,
        largest_latent=max(latent_sizes(model)) if model else None,
    )


def loaded_dimension(wildcards):
    """Dimension of the array a scoring job reads: pixels for pixel spaces, the model's
    activations for the others."""
    if wildcards.get("input_space"):
        return INPUT_DIMENSION[wildcards.dataset]
    return hidden_size(wildcards.model)


def train_runtime(wildcards, attempt):
    spec = MODEL_SPECS[wildcards.model]
    return cost.train_runtime(
        data_size(wildcards.dataset), spec, attempt, gpu=bool(GPUS)
    )


def torch_data_mem(wildcards, attempt):
    return cost.torch_data_mem(data_size(wildcards.dataset), attempt)


def autoencoder_runtime(wildcards, attempt):
    return cost.autoencoder_runtime(
        data_size(wildcards.dataset),
        hidden_size(wildcards.model),
        latent_sizes(wildcards.model),
        config["autoencoder"],
        attempt,
        gpu=bool(GPUS),
    )


def autoencoder_mem(wildcards, attempt):
    return cost.autoencoder_mem(
        data_size(wildcards.dataset), hidden_size(wildcards.model), attempt
    )


def score_runtime(wildcards, attempt):
    return cost.score_runtime(
        data_size(wildcards.dataset),
        space_dimension(wildcards),
        config["hull"]["max_queries"],
        attempt,
    )


def score_mem(wildcards, attempt):
    return cost.score_mem(
        data_size(wildcards.dataset),
        space_dimension(wildcards),
        loaded_dimension(wildcards),
        attempt,
    )


# ---- theory branch: its sizes are read from the config, ascending as theory.smk has them ----


def theory_real_runtime(wildcards, attempt):
    real = config["theory"]["real_data"]
    return cost.theory_real_runtime(
        data_size(wildcards.dataset),
        sorted(real["dimensions"]),
        real["max_queries"],
        attempt,
    )


def theory_real_mem(wildcards, attempt):
    dimensions = config["theory"]["real_data"]["dimensions"]
    return cost.theory_real_mem(data_size(wildcards.dataset), dimensions, attempt)


def theory_bottleneck_runtime(wildcards, attempt):
    return cost.theory_bottleneck_runtime(
        data_size(wildcards.dataset),
        config["theory"]["embedding"],
        attempt,
        shared_trunk="k" not in wildcards.keys(),  # one job trains every size k
        gpu=bool(GPUS),
    )


def theory_embedding_runtime(wildcards, attempt):
    theory = config["theory"]
    return cost.theory_embedding_runtime(
        data_size(wildcards.dataset),
        sorted(theory["embedding"]["sizes"]),
        len(theory["embedding"]["readings"]),
        theory["real_data"]["max_queries"],
        attempt,
    )


def theory_embedding_mem(wildcards, attempt):
    sizes = config["theory"]["embedding"]["sizes"]
    return cost.theory_embedding_mem(data_size(wildcards.dataset), sizes, attempt)


def theory_probability_runtime(wildcards, attempt):
    return cost.theory_probability_runtime(
        config["theory"]["hull_probability"], attempt
    )
