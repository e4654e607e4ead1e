"""Checks of the workflow's config that its JSON schema cannot express.

The schema (``workflow/schemas/config.schema.yaml``) checks each value on its own; what the
data decide (the training-set size, the classes of a split, a model's width against the
latent sweep) and how the files were written (a key given twice, a YAML error) is checked
here, when the config is read, so that a bad value stops Snakemake before any job and the
message names the key, the file that set it and what to do.

``workflow/rules/common.smk`` calls these functions (and the Snakefile calls
:func:`load_config_file` on its default config file); they need only the standard library
and PyYAML, which Snakemake itself depends on.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import yaml


class ConfigError(ValueError):
    """A config value or config file the workflow cannot run with."""


# ---- reading config files ----------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping key given twice (YAML itself forbids it; PyYAML
    keeps the last value)."""


def _construct_mapping(loader, node, deep=False):
    loader.flatten_mapping(node)  # merge keys (<<) first: they may be overridden
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            first = seen[key]
            raise ConfigError(
                f"{key_node.start_mark.name}, line {key_node.start_mark.line + 1}: key "
                f"{key!r} is given twice (first on line {first + 1}); the second would "
                "silently replace the first: keep one"
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _refuse_duplicate_json_keys(path):
    def hook(pairs):
        keys = [k for k, _ in pairs]
        for k in keys:
            if keys.count(k) > 1:
                raise ConfigError(
                    f"{path}: key {k!r} is given twice in one object; the second would "
                    "silently replace the first: keep one"
                )
        return dict(pairs)

    return hook


def load_config_file(path: str | Path) -> dict:
    """A config file (YAML or JSON, as Snakemake reads them), read strictly.

    Raises
    ------
    ConfigError
        naming the file and line of a YAML syntax error or of a key given twice in one
        mapping, or when the file's top level is not a mapping.
    """
    path = str(path)
    with open(path, encoding="utf-8") as fh:  # PyYAML's marks name the stream's .name
        try:  # Snakemake tries JSON first
            data = json.load(fh, object_pairs_hook=_refuse_duplicate_json_keys(path))
        except json.JSONDecodeError:
            fh.seek(0)
            data = _load_yaml(fh, path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file holds keys at its top level, not a value")
    return data


def _load_yaml(stream, path):
    try:
        return yaml.load(stream, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else path
        problem = str(err.problem or err.context)
        if err.context and err.problem:
            start = err.context_mark
            since = f" from line {start.line + 1}" if start and start.line != mark.line else ""
            problem = f"{err.problem}, {err.context}{since}"
        raise ConfigError(
            f"{where}: not valid YAML ({problem}); fix the file there (indent with "
            "spaces, never tabs; close every bracket and quote)"
        ) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err}); fix the file") from None


def load_config_file_if_present(path: str | Path) -> None:
    """Read ``path`` strictly when it exists (the Snakefile's default config file, before
    Snakemake reads it: its own message on a YAML error names neither file nor line)."""
    if Path(path).exists():
        load_config_file(path)


def config_sources(
    configfiles: Iterable[str | Path],
    cli_configfiles: Iterable[str | Path] = (),
    cli_config: Mapping | None = None,
) -> list[tuple[str, dict]]:
    """``(name, content)`` of every place a config value came from, in the order Snakemake
    applies them (later ones win): the Snakefile's config files, those given with
    ``--configfile``, then ``--config`` values. Every file is re-read strictly
    (:func:`load_config_file`).

    Parameters
    ----------
    configfiles : every config file read (Snakemake's ``workflow.configfiles``).
    cli_configfiles : those given with ``--configfile`` (``workflow.overwrite_configfiles``).
    cli_config : the ``--config`` values.
    """
    cli = [str(p) for p in cli_configfiles]
    files = [str(p) for p in configfiles if str(p) not in cli] + cli
    sources = [(p, load_config_file(p)) for p in dict.fromkeys(files)]
    if cli_config:
        sources.append(("--config", dict(cli_config)))
    return sources


# ---- key paths ---------------------------------------------------------------------------


def key_text(path: Sequence) -> str:
    """``("models", 2, "width")`` -> ``models[2].width``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def origin(path: Sequence, sources: Sequence[tuple[str, dict]]) -> str | None:
    """The source that set the value at ``path``: the last one holding it (Snakemake merges
    mappings key by key and replaces lists whole), None for a schema default."""
    for name, data in reversed(sources):
        node = data
        for part in path:
            if isinstance(part, int):  # a list is replaced whole: its owner set it
                return name
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            return name
    return None


def _error(path, value, sources, text):
    where = origin(path, sources) if sources else None
    source = f" (set in {where})" if where else " (the schema's default)" if sources else ""
    return ConfigError(f"config: {key_text(path)} = {value!r}{source}: {text}")


# ---- checks ------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_text(config: Mapping, sources: Sequence[tuple[str, dict]] = ()) -> None:
    """Refuse control characters (a newline, a tab, ...) in any key or text value: names
    become folder names and table cells, which a trailing newline would split."""

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and _CONTROL.search(key):
                    raise _error(path, key, sources, "a key holds a control character: remove it")
                walk(value, (*path, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*path, i))
        elif isinstance(node, str) and _CONTROL.search(node):
            char = _CONTROL.search(node).group()
            raise _error(
                path,
                node,
                sources,
                f"holds the control character {char!r}; names become folder names and "
                "table cells, so write the value on one line without it (in YAML, a "
                "'|' or '>' block or a quoted \\n adds one)",
            )

    walk(config, ())


def check_integers(
    config: Mapping, schema: Mapping, sources: Sequence[tuple[str, dict]] = ()
) -> None:
    """Refuse a float where the schema says integer: JSON Schema counts 1.0 as an integer,
    but a seed or a size becomes part of a path and a count."""

    def walk(node, spec, path):
        types = spec.get("type", [])
        types = [types] if isinstance(types, str) else types
        if isinstance(node, float) and "integer" in types and "number" not in types:
            whole = f"write {int(node)}" if node.is_integer() else "write a whole number"
            raise _error(path, node, sources, f"must be an integer: {whole}, without '.'")
        if isinstance(node, dict):
            props = spec.get("properties", {})
            for key, value in node.items():
                if key in props:
                    walk(value, props[key], (*path, key))
        elif isinstance(node, list) and isinstance(spec.get("items"), dict):
            for i, value in enumerate(node):
                walk(value, spec["items"], (*path, i))

    walk(config, schema, ())


#: The largest seed every consumer takes (scikit-learn's and NumPy's RandomState: 2**32 - 1).
MAX_SEED = 2**32 - 1


def check_seeds(config: Mapping, sources: Sequence[tuple[str, dict]] = ()) -> None:
    """Refuse a seed (a key ``seed``, ``seeds`` or ``*_seed``) above :data:`MAX_SEED`: the
    schema has no upper bound, and the split fails on it only once the dataset is read."""

    def walk(node, path, is_seed):
        if isinstance(node, dict):
            for key, value in node.items():
                seed_key = isinstance(key, str) and (
                    key in ("seed", "seeds") or key.endswith("_seed")
                )
                walk(value, (*path, key), seed_key)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*path, i), is_seed)
        elif is_seed and isinstance(node, int) and not isinstance(node, bool) and node > MAX_SEED:
            raise _error(
                path,
                node,
                sources,
                f"a seed must lie in 0 .. 2**32 - 1 = {MAX_SEED} (NumPy's and scikit-learn's "
                "RandomState take no larger one): choose a smaller seed",
            )

    walk(config, (), False)


def split_sizes(config: Mapping, shape: Sequence) -> tuple[int, int]:
    """(training images, test images) of a dataset of ``shape`` = (channels, height, width,
    images in all, images in the standard test split or None), as the workflow splits it:
    a standard split as published, else scikit-learn's ``train_test_split`` with
    ``test_size=data.test_fraction`` (ceil(n x fraction) test images)."""
    total, n_test = shape[3], shape[4]
    if n_test is None:
        n_test = math.ceil(total * config["data"]["test_fraction"])
    return total - n_test, n_test


def split_datasets(config: Mapping) -> list[str]:
    """Datasets the workflow acquires: those under ``datasets`` and the theory branch's."""
    names = {entry["name"] for entry in config["datasets"]}
    theory = config.get("theory", {})
    if theory.get("enabled", False):
        names |= set(theory.get("real_data", {}).get("datasets", []))
    return sorted(names)


def check_split(
    config: Mapping,
    dataset_shapes: Mapping[str, Sequence],
    dataset_classes: Mapping[str, int],
    sources: Sequence[tuple[str, dict]] = (),
) -> None:
    """A stratified split by ``data.test_fraction`` needs at least one image of every class
    on each side (scikit-learn refuses otherwise, after the dataset was read)."""
    fraction = config["data"]["test_fraction"]
    for name in split_datasets(config):
        shape = dataset_shapes[name]
        if shape[4] is not None:
            continue
        n_train, n_test = split_sizes(config, shape)
        total, classes = shape[3], dataset_classes[name]
        # ceil(total x f) >= classes for f > (classes - 1) / total; total - ceil(total x f)
        # >= classes for f <= (total - classes) / total (rounded inwards to 4 digits)
        low = _up((classes - 1) / total + 1e-12)
        high = _down((total - classes) / total)
        if n_test < classes or n_train < classes:
            side, count = ("test", n_test) if n_test < classes else ("training", n_train)
            raise _error(
                ("data", "test_fraction"),
                fraction,
                sources,
                f"leaves {count} {side} images of {name} ({total:,} images, {classes} "
                f"classes); its stratified split needs at least one image of every class "
                f"on each side: choose data.test_fraction between {low} and {high}",
            )


def _up(x, digits=4):
    return math.ceil(x * 10**digits) / 10**digits


def _down(x, digits=4):
    return math.floor(x * 10**digits) / 10**digits


def check_proximity_k(
    config: Mapping,
    dataset_shapes: Mapping[str, Sequence],
    sources: Sequence[tuple[str, dict]] = (),
) -> None:
    """``proximity.k`` neighbours must exist in every dataset's training set (every space
    of a dataset, pixels, activations or codes, has one point per training image)."""
    k = config["proximity"]["k"]
    for entry in config["datasets"]:
        name = entry["name"]
        n_train, _ = split_sizes(config, dataset_shapes[name])
        if k > n_train:
            split = (
                f", data.test_fraction = {config['data']['test_fraction']}"
                if dataset_shapes[name][4] is None
                else ""
            )
            raise _error(
                ("proximity", "k"),
                k,
                sources,
                f"exceeds the {n_train:,} training images of {name}{split}; the "
                f"k-nearest-neighbour measures need k training samples: use "
                f"proximity.k <= {n_train}",
            )


def check_widths(
    config: Mapping, model_specs: Mapping[str, Mapping], sources: Sequence[tuple[str, dict]] = ()
) -> None:
    """Every model's last hidden layer must be wider than the smallest swept latent size:
    the sweep is the sizes below the width and the width itself, and with none below it
    there is no compression to choose from (the intrinsic dimension would be the width)."""
    smallest = min(config["autoencoder"]["latent_sizes"])
    used = {m for entry in config["datasets"] for m in entry["models"]}
    for i, entry in enumerate(config["models"]):
        spec = model_specs.get(entry["name"], entry)
        if entry["name"] not in used or spec["arch"] == "resnet18":  # resnet18: 512 units
            continue
        if spec["width"] <= smallest:
            raise _error(
                ("models", i, "width"),
                spec["width"],
                sources,
                f"model {entry['name']!r} has {spec['width']} unit(s) in its last hidden "
                f"layer, not more than the smallest latent size "
                f"(autoencoder.latent_sizes: {sorted(config['autoencoder']['latent_sizes'])}); "
                "only the width itself would be swept and the intrinsic dimension could "
                f"only be the width: make it wider than {smallest}"
                + (" or add a smaller latent size" if smallest > 1 else ""),
            )


def check_levers(
    config: Mapping, model_specs: Mapping[str, Mapping], sources: Sequence[tuple[str, dict]] = ()
) -> None:
    """The zoo's levers (``levers:``) must be a design that can be read as dose-response:
    unique names; each model defined under ``models:`` and trained on some dataset; one
    setting varied per lever, never the architecture (the models of a lever agree on every
    other setting); and at most one model of a lever in other levers: its reference point
    (levers of different architectures have different references)."""
    used = {m for entry in config["datasets"] for m in entry["models"]}
    names: dict[str, int] = {}
    member: dict[str, list[int]] = {}
    for i, lever in enumerate(config.get("levers", [])):
        if lever["name"] in names:
            raise _error(
                ("levers", i, "name"),
                lever["name"],
                sources,
                f"a second lever of this name (the first is levers[{names[lever['name']]}]): "
                "lever names must be unique; rename one or merge their lists",
            )
        names[lever["name"]] = i
        for j, model in enumerate(lever["models"]):
            path = ("levers", i, "models", j)
            if model not in model_specs:
                raise _error(
                    path,
                    model,
                    sources,
                    f"lever {lever['name']!r} lists a model that is not defined under models: "
                    f"(defined: {', '.join(model_specs)}); define it or fix the name",
                )
            if model not in used:
                raise _error(
                    path,
                    model,
                    sources,
                    f"lever {lever['name']!r} lists a model that no dataset trains; add it to "
                    "a dataset's models: or remove it from the lever",
                )
            member.setdefault(model, []).append(i)
        varied = _varied_settings([model_specs[m] for m in lever["models"]])
        if "arch" in varied:
            raise _error(
                ("levers", i, "models"),
                lever["models"],
                sources,
                f"the models of lever {lever['name']!r} have different architectures; a "
                "lever varies one setting of one architecture (its levels must be ordered "
                "doses of it): make one lever per architecture",
            )
        if len(varied) > 1:
            raise _error(
                ("levers", i, "models"),
                lever["models"],
                sources,
                f"the models of lever {lever['name']!r} differ in {len(varied)} settings "
                f"({', '.join(varied)}); a lever varies one setting, so that a trend along it "
                "has one cause: split it into one lever per setting",
            )
    shared = {m for m, levers in member.items() if len(levers) > 1}
    for i, lever in enumerate(config.get("levers", [])):
        references = sorted(shared.intersection(lever["models"]))
        if len(references) > 1:
            raise _error(
                ("levers", i, "models"),
                lever["models"],
                sources,
                f"lever {lever['name']!r} shares {len(references)} models with other levers "
                f"({', '.join(map(repr, references))}); only its reference model (one model, "
                "a level of every lever it belongs to) may be shared: give each lever its "
                "own models besides the reference",
            )


def _varied_settings(specs: Sequence[Mapping]) -> list[str]:
    """The settings (model keys other than the name) on which ``specs`` disagree. The
    training length is one setting, ``steps`` when set (a step budget ignores ``epochs``),
    else ``epochs``: snapshots of a run and the full run differ in it alone."""

    def settings(spec):
        out = {k: v for k, v in spec.items() if k not in ("name", "steps", "epochs")}
        steps = spec.get("steps")
        out["steps/epochs"] = (
            ("steps", steps) if steps is not None else ("epochs", spec.get("epochs"))
        )
        return out

    rows = [settings(spec) for spec in specs]
    keys = sorted({k for row in rows for k in row})
    return [k for k in keys if len({repr(row.get(k)) for row in rows}) > 1]


def dataset_levers(levers: Sequence[Mapping], models: Sequence[str]) -> dict[str, list[str]]:
    """Lever name -> its models trained on a dataset (``models``), worst to best, in the
    config's order; a lever with fewer than two of them says nothing there and is left out."""
    out = {}
    for lever in levers:
        kept = [m for m in lever["models"] if m in models]
        if len(kept) >= 2:
            out[lever["name"]] = kept
    return out


def lever_of(levers: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Model -> the name of its lever, ``"reference"`` for a model in several levers (the
    shared reference point); models in no lever are absent."""
    out: dict[str, str] = {}
    for name, models in levers.items():
        for model in models:
            out[model] = "reference" if model in out else name
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m neuralhull.config_checks FILE...``: read config files strictly and name the
    file and line of a YAML error or of a key given twice (Snakemake's own message on a file
    given with ``--configfile`` names neither)."""
    import sys

    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        print("usage: python -m neuralhull.config_checks FILE...", file=sys.stderr)
        return 2
    status = 0
    for path in paths:
        try:
            load_config_file(path)
        except (ConfigError, OSError) as err:
            print(err, file=sys.stderr)
            status = 1
        else:
            print(f"{path}: read strictly, no error")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
