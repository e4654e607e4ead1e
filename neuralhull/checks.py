"""Input checks shared by the library: one per kind of argument, one message wherever it comes.

Each raises ValueError (TypeError for a wrong kind of object) with a message that names the
argument, what it must be and what it got: a choice among names, a table's columns, a
count, a positive number, a level or fraction, a seeded generator, a score or boolean vector.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np


def one_of(value, choices: Sequence, name: str):
    """``value`` if it is one of ``choices``, else ValueError."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def require_columns(frame, columns: Sequence[str], what: str, *, nonempty: str | None = None):
    """``frame`` if it is a DataFrame with every one of ``columns``, else ValueError.

    The missing columns are listed in the order of ``columns``. ``nonempty``: also refuse a
    frame without rows, saying what the rows are for (e.g. ``"to plot"``).
    """
    import pandas as pd  # the workflow's extra; the hull engine never checks a table

    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}")
    if nonempty is not None and frame.empty:
        raise ValueError(f"{what} has no rows {nonempty}")
    return frame


def check_count(value, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or ValueError (bools and floats are refused)."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be an integer, got a bool")
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def check_positive(values, name: str, *, zero: bool = False):
    """``values`` (a number or an array of them) as float, if every one is finite and > 0
    (>= 0 with ``zero``), else ValueError."""
    array = np.asarray(values, dtype=float)
    low_ok = array >= 0 if zero else array > 0
    if not (np.isfinite(array) & low_ok).all():
        raise ValueError(f"{name} must be finite and {'>= 0' if zero else '> 0'}, got {values!r}")
    return float(array) if array.ndim == 0 else array


def check_fraction(value, name: str) -> float:
    """``value`` as a float strictly between 0 and 1, or ValueError."""
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie in (0, 1), got {value}")
    return value


def check_level(level) -> float:
    """The coverage ``level`` of an interval as a float in (0, 1), or ValueError."""
    return check_fraction(level, "level")


def check_generator(rng) -> np.random.Generator:
    """``rng`` if it is a ``numpy.random.Generator``, else TypeError (a seed is refused, so
    that the caller decides where the randomness comes from)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (numpy.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return rng


def as_score(values, name: str = "score") -> np.ndarray:
    """``values`` as a one-dimensional float array without NaN (inf is allowed: a score
    only ranks), or ValueError."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {values.shape}")
    if np.isnan(values).any():
        raise ValueError(f"{name} contains NaN; drop samples without a value first")
    return values


def as_bool(values, name: str, n: int) -> np.ndarray:
    """``values`` as a bool array of shape ``(n,)``; 0/1 numbers (or objects) are accepted,
    anything else is a ValueError rather than a truthiness guess."""
    values = np.asarray(values)
    if values.ndim != 1 or values.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {values.shape}")
    if values.dtype == bool:
        return values
    if values.dtype.kind in "iuf" and np.isin(values, (0, 1)).all():
        return values.astype(bool)
    if values.dtype == object and all(
        isinstance(v, bool | np.bool_) or v in (0, 1) for v in values.tolist()
    ):
        return values.astype(bool)
    raise ValueError(f"{name} must be boolean (or 0/1), got dtype {values.dtype}")


def as_images(images, name: str) -> np.ndarray:
    """``images`` as an array of shape ``(n, C, H, W)``, or ValueError."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"{name} must be images (n, C, H, W), got shape {images.shape}")
    return images
