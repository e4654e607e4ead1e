"""``python -m benchmarks hull|workflow|train [options]``: run one benchmark."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "hull": "benchmarks.hull",
    "workflow": "benchmarks.workflow",
    "train": "benchmarks.train",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        print(
            f"usage: python -m benchmarks {{{'|'.join(COMMANDS)}}} [options]  "
            "(--help after the name lists its options)",
            file=sys.stderr,
        )
        return 2
    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
