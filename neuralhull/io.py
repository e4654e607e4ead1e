"""Atomic writes and small file formats shared by the workflow's steps.

Every output is written to a temporary name in its final folder and renamed into place,
so a job killed mid-write never leaves a file that looks finished. The workflow's own
array files are read back through :func:`load_arrays`, which checks them and says how to
remake a damaged one. Its tables are tab-separated files headed by ``# key: value``
provenance lines: :func:`write_table` writes every one of them, :func:`read_table` and
:func:`read_provenance` read them back.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas belongs to the workflow's extra; the array helpers need only NumPy
    import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    The temporary file keeps ``path``'s suffix (``numpy.savez`` and friends look at it) and
    is removed if the block raises.
    """
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    base = os.path.basename(path)
    suffix = "".join(base.partition(".")[1:]) if "." in base else ""
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_npz(path: str | os.PathLike, *, compress: bool = True, **arrays: np.ndarray) -> None:
    """``numpy.savez_compressed`` (or, with ``compress=False``, ``numpy.savez``) written
    atomically."""
    with atomic_path(path) as tmp:
        (np.savez_compressed if compress else np.savez)(tmp, **arrays)


def save_json(path: str | os.PathLike, obj) -> None:
    """JSON (sorted keys, indented) written atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=_jsonable)
        fh.write("\n")


def load_json(path: str | os.PathLike):
    with open(path) as fh:
        return json.load(fh)


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"cannot write {type(x).__name__} as JSON")


class ArrayFileError(ValueError):
    """One of the workflow's own ``.npz`` files is missing, damaged, lacks an array or holds
    NaN or inf; the message names the file, the rule that writes it and the command that
    remakes it."""


# The rule that writes each of the workflow's own array files, by the path patterns of the
# rules' outputs (workflow/rules/*.smk). A caller that knows better (the bottleneck rule
# depends on the config) passes ``rule=`` to :func:`load_arrays`.
ARRAY_FILE_RULES: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"(^|/)results/[^/]+/[^/]+/seed\d+/activations\.npz$"), "train_model"),
    (re.compile(r"(^|/)results/[^/]+/[^/]+/seed\d+/latent/codes\.npz$"), "fit_autoencoder"),
    (
        re.compile(r"(^|/)results/theory/embedding/[^/]+/\d+/embeddings\.npz$"),
        "theory_train_bottleneck",
    ),
)

# what numpy and zipfile raise for a truncated, corrupt or foreign file
_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


def array_file_rule(path: str | os.PathLike) -> str | None:
    """The rule that writes the workflow array file ``path`` (None: not one of its files)."""
    path = os.fspath(path).replace(os.sep, "/")
    for pattern, rule in ARRAY_FILE_RULES:
        if pattern.search(path):
            return rule
    return None


def remake_hint(path: str | os.PathLike, rule: str | None) -> str:
    """How to remake the workflow output ``path``, written by ``rule``."""
    path = os.fspath(path)
    made = f"It is written by rule {rule}" if rule else "It is a workflow output"
    return (
        f"{made}; remake it with `snakemake --force {path}` (plus your run's --configfile, "
        "if any), then run the workflow again"
    )


def load_arrays(
    path: str | os.PathLike, names: Iterable[str] | None = None, *, rule: str | None = None
) -> dict[str, np.ndarray]:
    """Read arrays from one of the workflow's own ``.npz`` files, checked.

    Parameters
    ----------
    path : an ``.npz`` the workflow wrote (activations, latent codes, embeddings).
    names : the arrays to read (default: all of them).
    rule : the rule that writes the file, for the error message (default: found from the
        path by :data:`ARRAY_FILE_RULES`).

    Returns
    -------
    dict name -> array, in the order of ``names``. Every array read has passed the zip
    archive's CRC check, and every floating-point array is finite.

    Raises
    ------
    ArrayFileError
        The file is missing, not a complete ``.npz`` archive (truncated, corrupt), lacks
        one of ``names``, or a floating-point array holds NaN or inf. The message names the
        file, the array, the rule that writes it and the command that remakes it.
    """
    path = os.fspath(path)
    if rule is None:
        rule = array_file_rule(path)
    hint = remake_hint(path, rule)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ArrayFileError(f"{path}: no such file. {hint}") from None
    except _UNREADABLE as error:
        raise ArrayFileError(
            f"{path}: not a complete .npz archive, the file is truncated or corrupt "
            f"({type(error).__name__}: {error}). {hint}"
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ArrayFileError(f"{path}: a single array, not an .npz archive of arrays. {hint}")
    arrays = {}
    with archive:
        names = list(archive.files if names is None else names)
        missing = [name for name in names if name not in archive.files]
        if missing:
            raise ArrayFileError(
                f"{path}: holds no array {', '.join(map(repr, missing))} (it holds "
                f"{', '.join(map(repr, archive.files)) or 'none'}): incomplete, or written by "
                f"another version of the workflow. {hint}"
            )
        for name in names:
            try:
                value = archive[name]
            except _UNREADABLE as error:
                raise ArrayFileError(
                    f"{path}: array {name!r} cannot be read, the file is corrupt "
                    f"({type(error).__name__}: {error}). {hint}"
                ) from None
            if value.dtype.kind in "fc":
                bad = ~np.isfinite(value)
                if bad.any():
                    first = tuple(int(i) for i in np.argwhere(bad)[0])
                    n_nan = int(np.isnan(value).sum())
                    again = (
                        f"; if the new file holds them again, see that rule's log under "
                        f"logs/{rule}/"
                        if rule
                        else ""
                    )
                    raise ArrayFileError(
                        f"{path}: array {name!r} {value.shape} holds {n_nan} NaN and "
                        f"{int(bad.sum()) - n_nan} inf values (the first at index "
                        f"{first if len(first) > 1 else first[0]}); hull, PCA and "
                        f"autoencoder steps need finite numbers. {hint}{again}"
                    )
            arrays[name] = value
    return arrays


def write_table(df: pd.DataFrame, path, provenance: Mapping[str, object]) -> None:
    """Write ``df`` as a TSV file headed by ``# key: value`` provenance lines, atomically.

    Parameters
    ----------
    df : DataFrame
        Written without its index.
    path : str or Path
    provenance : mapping
        E.g. software versions, config hash, seeds. Keys must be free of ``:`` and line
        breaks, values free of line breaks.
    """
    lines = []
    for key, value in provenance.items():
        key, value = str(key), str(value)
        if ":" in key or "\n" in key or "\r" in key or not key.strip():
            raise ValueError(f"provenance key {key!r} must be non-empty, without ':' or newline")
        if "\n" in value or "\r" in value:
            raise ValueError(f"provenance value for {key!r} contains a line break")
        lines.append(f"# {key}: {value}\n")
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.writelines(lines)
            df.to_csv(handle, sep="\t", index=False, lineterminator="\n")
            handle.flush()
            os.fsync(handle.fileno())


def _provenance_lines(path) -> list[str]:
    lines = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            lines.append(line.rstrip("\n"))
    return lines


def read_table(path) -> pd.DataFrame:
    """Read a table written by :func:`write_table`, skipping its leading comment lines.

    Only the leading ``#`` lines are skipped, so a ``#`` inside a data field survives.
    """
    import pandas as pd

    return pd.read_csv(path, sep="\t", skiprows=len(_provenance_lines(path)))


def read_provenance(path) -> dict[str, str]:
    """The ``# key: value`` provenance lines of a table written by :func:`write_table`."""
    out = {}
    for line in _provenance_lines(path):
        key, _, value = line[1:].strip().partition(":")
        out[key.strip()] = value.strip()
    return out
