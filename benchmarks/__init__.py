"""Hand-run benchmarks of the hull engine, the training step and the whole workflow.

Run from the repository root (they are not part of the installed package)::

    python -m benchmarks hull [--quick | --large | --goals | --case KIND:N:D ...]
    python -m benchmarks workflow [--against REF] [--configfile config/tiny.yaml] ...
    python -m benchmarks train [--config config/config.yaml] [--threads 1]
    python benchmarks/bench_autoencoder.py

Each module's docstring says what it measures; docs/performance.md records what they
measured, dated, with the command that reproduces it.
"""
