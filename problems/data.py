"""Data sets for the amortized problems, from the copies that ship inside scikit-learn (no network access).

``digits``: the 1,797 8×8 handwritten digits of ``sklearn.datasets.load_digits`` (pixel values 0–16), either
standardized per pixel over the whole data set (pixels that are constant get scale 1) or binarized at half
intensity (``value > 8``). ``breast_cancer``: the 569 × 30 Wisconsin breast-cancer features of
``load_breast_cancer``, standardized per feature, with labels mapped to ±1. Both are deterministic: a subset is
the first ``n`` rows, in the order scikit-learn ships them.
"""

from __future__ import annotations

import functools

import numpy as np

from varbench.core.errors import VarbenchError

DIGITS_SIZE = 1797
BREAST_CANCER_SIZE = 569


def _check_subset(name: str, subset: int, size: int) -> None:
    if not 1 <= subset <= size:
        raise VarbenchError(f"data_subset for {name} must be between 1 and {size}; got {subset}")


def _standardize(x: np.ndarray) -> np.ndarray:
    scale = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(scale > 0, scale, 1.0)


@functools.lru_cache(maxsize=None)
def _digits_pixels() -> np.ndarray:
    from sklearn.datasets import load_digits  # bundled with scikit-learn; no download
    return np.asarray(load_digits().data, np.float64)


@functools.lru_cache(maxsize=32)
def digits(subset: int, binarized: bool = False) -> np.ndarray:
    """The first ``subset`` digits as a read-only ``(subset, 64)`` float32 array (standardized or binary 0/1)."""
    _check_subset("digits", subset, DIGITS_SIZE)
    pixels = _digits_pixels()
    x = (pixels > 8.0).astype(np.float64) if binarized else _standardize(pixels)
    out = np.ascontiguousarray(x[:subset], np.float32)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=32)
def breast_cancer(subset: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``subset`` rows: standardized features ``(subset, 30)`` and labels in {−1, +1}, float32."""
    _check_subset("breast_cancer", subset, BREAST_CANCER_SIZE)
    from sklearn.datasets import (
        load_breast_cancer,  # bundled with scikit-learn; no download
    )
    bunch = load_breast_cancer()
    x = np.ascontiguousarray(_standardize(np.asarray(bunch.data, np.float64))[:subset], np.float32)
    y = np.ascontiguousarray(2.0 * np.asarray(bunch.target[:subset], np.float64) - 1.0, np.float32)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y
