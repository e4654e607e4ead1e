# Between-workflow caching (`--cache`) excludes a benchmark file: a cached result has no
# run time to report. The dataset's log says how long acquisition took. The source route
# (config data.source) is read by the script, not a param: every route yields the same
# checksummed arrays, so switching routes must not rerun anything. The split settings are
# params of digits only: the other datasets have a standard split and ignore them.
rule acquire_dataset:
    output:
        multiext("resources/data/{dataset}", *DATASET_FILES),
    log:
        "logs/acquire_dataset/{dataset}.log",
    cache: "omit-software"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        split=get_split_params,
    script:
        "../scripts/acquire_dataset.py"
