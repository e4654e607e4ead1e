"""``config/README.md`` from the config schema: every key, its type, default and meaning.

``python -m neuralhull.config_doc > config/README.md`` writes it; ``tests/workflow/test_config.py``
checks that the file on disk is what the schema gives, so the two cannot drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml"

HEADER = """# Configuration

Copy `config/config.yaml` (the default: MNIST, a zoo of eight models x three seeds) into
your own project's `config/` folder and edit it; `config/tiny.yaml` (digits, minutes) and
`config/paper.yaml` (paper scale, for a cluster) are the other starting points. Every key is
validated against `workflow/schemas/config.schema.yaml` before any job runs; an omitted key
takes the default below. This page is generated from that schema
(`python -m neuralhull.config_doc > config/README.md`).

| key | type | default | meaning |
|---|---|---|---|
"""


def _type(spec: dict) -> str:
    if "enum" in spec:
        return " \\| ".join(f"`{v}`" for v in spec["enum"])
    t = spec.get("type", "")
    if isinstance(t, list):
        return " or ".join(t)
    if t == "array" and "items" in spec:
        return f"list of {_type(spec['items']) or 'entries'}"
    return t


def _rows(props: dict, prefix: str = ""):
    for key, spec in props.items():
        name = f"{prefix}{key}"
        default = json.dumps(spec["default"]) if "default" in spec else ""
        if spec.get("type") == "object" and "properties" in spec and spec.get("default") == {}:
            default = ""
        text = " ".join(str(spec.get("description", "")).split())
        yield f"| `{name}` | {_type(spec)} | {default and f'`{default}`'} | {text} |"
        if "properties" in spec:
            yield from _rows(spec["properties"], f"{name}.")
        items = spec.get("items", {})
        if isinstance(items, dict) and "properties" in items:
            yield from _rows(items["properties"], f"{name}[].")


def config_readme() -> str:
    schema = yaml.safe_load(SCHEMA.read_text())
    return HEADER + "\n".join(_rows(schema["properties"])) + "\n"


if __name__ == "__main__":
    sys.stdout.write(config_readme())
