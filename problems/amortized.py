"""Shared machinery of the amortized variational-inference problems (VAEs, sigmoid belief networks).

Every amortized problem has a generative model ``p_θ(x, z) = p_θ(z) p_θ(x | z)`` and an encoder ``q_φ(z | x)``
over a fixed data set (the first ``data_subset`` rows of a bundled scikit-learn data set, see
:mod:`varbench.problems.data`). Its objective is the **negative** K-sample bound averaged over the data set,

    F(θ, φ) = −(1/N) Σ_n E_{z_1..K ~ q_φ(·|x_n)} [ log (1/K) Σ_k w_nk ],   w_nk = p_θ(x_n, z_nk) / q_φ(z_nk | x_n),

which is the negative ELBO for ``particles = K = 1`` (the default) and the negative importance-weighted bound of
Burda, Grosse & Salakhutdinov (2016) for K > 1. One *latent draw* (what an estimator samples) is a minibatch of
``batch_size`` data points drawn uniformly **with replacement** (a one-hot categorical per slot, so exact mode can
enumerate it) together with K latents per point; the cost of a draw is the minibatch mean of
``−log (1/K) Σ_k w_k``, an unbiased estimate of F. With ``batch_size >= data_subset`` the whole subset is used
deterministically and no index noise is drawn.

The latent ``x`` passed to ``log_prob`` and ``cost`` is a dict ``{"data": (B, D) rows, "z": (B, K, L)}``.
``log_prob`` is ``Σ_{b,k} log q_φ(z_bk | x_b)`` (the minibatch's selection probability does not depend on the
parameters). Estimators that need the structure use these hooks (all per data point and particle, shape (B, K)):

* ``log_q_terms(params, data, z)``, ``log_likelihood(params, data, z)``, ``log_prior(params, z)``;
* ``log_weights(params, x, q_params=None)`` — ``log w`` with the encoder's parameters taken from ``q_params``
  (sticking-the-landing and DReG pass stopped copies);
* ``kl(params, data)`` — the analytic ``KL(q_φ(·|x_b) || p_θ)`` per point, shape (B,), and
  ``cost_analytic_kl(params, x)`` — the cost with that KL in place of its one-sample estimate (K = 1 only);
* ``param_groups()`` — ``{"encoder": [...], "decoder": [...]}`` (the decoder group holds every generative-model
  parameter, prior included);

For problems without an exact objective, :func:`varbench.reference_gradient` gives a full-batch pathwise estimate
of ∇F with its standard error.

Parameters default to a seeded initialization (option ``init_seed``: LeCun-normal weights, zero biases, constant
log-scales) whose special leaves (the zeros and constants) are then moved to a generic point by seeded offsets of
0.15 to 0.45 in either direction (:func:`varbench.core.generic.generic_defaults` with seed ``init_seed``), so that
no default sits where a defect can hide. Or they come from ``params_file``: a NumPy ``.npz`` archive whose keys
are the parameter names and whose arrays have the parameters' shapes (the format ``varbench trace`` saves);
missing or misshapen entries are an error.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.generic import generic_defaults
from varbench.core.noise import Discrete, Noise
from varbench.core.numerics import logmeanexp
from varbench.core.params_file import load_params_file
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass

#: Prefix of encoder parameter names; every other parameter belongs to the generative model ("decoder").
ENCODER_PREFIX = "enc_"


def normal_log_density(x: jax.Array, mean: jax.Array, log_scale: jax.Array) -> jax.Array:
    """Elementwise log N(x; mean, exp(log_scale)²)."""
    z = (x - mean) * jnp.exp(-log_scale)
    return -0.5 * z * z - log_scale - 0.5 * math.log(2 * math.pi)


def dense_init(rng: np.random.RandomState, fan_in: int, fan_out: int) -> np.ndarray:
    """LeCun-normal weights: N(0, 1/fan_in)."""
    return (rng.standard_normal((fan_in, fan_out)) / math.sqrt(fan_in)).astype(np.float32)


def latent_option(default: int, doc: str = "latent dimension L") -> Any:
    """The option ``latent`` (the latent dimension L) of an amortized problem, with its default and description.

    Users write ``latent=...``; the field is ``latent_dim`` because a field ``latent`` would hide
    :meth:`varbench.Problem.latent`, the sampling map every problem defines.

    Args:
      default: L when the option is not given.
      doc: one line for ``varbench list``.

    Returns:
      The dataclass field (see :func:`varbench.core.pytree.option`).
    """
    return option(default, doc, kind=int, minimum=1, key="latent")


@pytree_dataclass
class Amortized(Problem):
    """Base of the amortized problems (not registered itself); see the module docstring."""

    amortized = True
    #: The cost is a negative bound (ELBO, K-sample bound): a trace reports ``elbo = −objective_mc``.
    objective_is_negative_bound = True

    data_subset: int = option(256, "N: the first N examples of the data set form the objective", kind=int, minimum=1)
    batch_size: int = option(16, "minibatch size B, drawn uniformly with replacement; B >= N uses the full subset",
                             kind=int, minimum=1)
    latent_dim: int = latent_option(4)
    particles: int = option(1, "K latents per data point: the K-sample bound (K=1 is the ELBO)", kind=int, minimum=1)
    init_seed: int = option(0, "seed of the default parameter initialization", kind=int, minimum=0)
    params_file: str = option("", "an .npz file of params keyed by name (from varbench trace); empty = init_seed",
                              kind=str)

    # --- to be provided by subclasses ----------------------------------------------------------------------
    def dataset(self) -> np.ndarray:
        """The (N, D) data matrix."""
        raise NotImplementedError

    def init_params(self, rng: np.random.RandomState) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def z_noise(self, params: Params, data: Any) -> Any:
        raise NotImplementedError

    def sample_z(self, params: Params, data: jax.Array, noise: Any) -> jax.Array:
        raise NotImplementedError

    def log_q_terms(self, params: Params, data: jax.Array, z: jax.Array) -> jax.Array:
        raise NotImplementedError

    def log_likelihood(self, params: Params, data: jax.Array, z: jax.Array) -> jax.Array:
        raise NotImplementedError

    def log_prior(self, params: Params, z: jax.Array) -> jax.Array:
        raise NotImplementedError

    def kl(self, params: Params, data: jax.Array) -> jax.Array:
        raise NotImplementedError

    # --- shared ---------------------------------------------------------------------------------------------
    @property
    def num_data(self) -> int:
        return int(self.data_subset)

    @property
    def full_batch(self) -> bool:
        return self.batch_size >= self.data_subset

    @property
    def num_batch(self) -> int:
        return self.num_data if self.full_batch else int(self.batch_size)

    def validate(self) -> None:
        self.dataset()  # checks data_subset against the data set's size

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: v.shape for k, v in self.init_params(np.random.RandomState(0)).items()}

    def default_params(self) -> dict[str, np.ndarray]:
        if self.params_file:
            return load_params_file(self.params_file, self.param_shapes())
        initial = self.init_params(np.random.RandomState(self.init_seed))
        return generic_defaults(initial, self.init_seed, only_special=True, dtype=np.float32)

    def param_groups(self) -> dict[str, list[str]]:
        names = list(self.param_shapes())
        return {"encoder": [n for n in names if n.startswith(ENCODER_PREFIX)],
                "decoder": [n for n in names if not n.startswith(ENCODER_PREFIX)]}

    def batch_noise(self) -> dict[str, Any]:
        return minibatch_noise(self.full_batch, self.batch_size, self.num_data)

    def select(self, noise: dict[str, Any], dtype: Any) -> jax.Array:
        return select_rows(self.dataset(), noise, dtype)

    def latent_noise(self, params: Params) -> dict[str, Any]:
        data = None if not self.full_batch else jnp.asarray(self.dataset(), _dtype(params))
        return {**self.batch_noise(), "z": self.z_noise(params, data)}

    def latent(self, params: Params, noise: dict[str, Any]) -> dict[str, jax.Array]:
        data = self.select(noise, _dtype(params))
        return {"data": data, "z": self.sample_z(params, data, noise["z"])}

    def log_weights(self, params: Params, x: dict[str, jax.Array], q_params: Params | None = None) -> jax.Array:
        """``log p_θ(x_b, z_bk) − log q_φ(z_bk | x_b)``, shape (B, K); φ from ``q_params`` when given."""
        data, z = x["data"], x["z"]
        q = params if q_params is None else q_params
        return self.log_likelihood(params, data, z) + self.log_prior(params, z) - self.log_q_terms(q, data, z)

    def log_prob(self, params: Params, x: dict[str, jax.Array]) -> jax.Array:
        return jnp.sum(self.log_q_terms(params, x["data"], x["z"]))

    def cost(self, params: Params, x: dict[str, jax.Array]) -> jax.Array:
        return -jnp.mean(logmeanexp(self.log_weights(params, x), axis=-1))

    def cost_analytic_kl(self, params: Params, x: dict[str, jax.Array]) -> jax.Array:
        """The cost with the analytic KL to the prior (the ELBO's second form in Levine's CS285 lecture on variational inference); K = 1 only."""
        return jnp.mean(-self.log_likelihood(params, x["data"], x["z"])[:, 0] + self.kl(params, x["data"]))


@dataclasses.dataclass(frozen=True, eq=False)
class UniformIndex(Discrete):
    """``shape`` independent indices uniform on {0, …, n − 1} (as floats); exact mode enumerates all n^size.

    Cheaper than a one-hot categorical for minibatch rows: sampling is one ``randint`` per slot.
    """

    n: int
    shape: tuple[int, ...] = ()

    @property
    def num_configurations(self) -> int:
        return self.n ** self.size

    def sample(self, key: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.randint(key, self.shape, 0, self.n).astype(dtype)

    def enumerate(self) -> tuple[np.ndarray, np.ndarray]:
        index = np.stack(np.unravel_index(np.arange(self.num_configurations), (self.n,) * self.size), -1)
        return index.astype(np.float64).reshape((-1,) + self.shape), np.full(len(index), 1.0 / len(index))

    def repeated(self, count: int) -> "UniformIndex":
        return UniformIndex(self.n, (count,) + self.shape)


def minibatch_noise(full_batch: bool, batch_size: int, num_data: int) -> dict[str, Any]:
    """``{}`` for full batch, else ``{"index": batch_size uniform row indices}`` (drawn with replacement)."""
    return {} if full_batch else {"index": UniformIndex(num_data, (batch_size,))}


def select_rows(data: np.ndarray, noise: dict[str, Any], dtype: Any) -> jax.Array:
    """The minibatch's rows of ``data``: all of them without index noise, else the indexed rows."""
    data = jnp.asarray(data, dtype)
    return data if "index" not in noise else data[noise["index"].astype(jnp.int32)]


def _dtype(params: Params) -> Any:
    return jax.tree_util.tree_leaves(params)[0].dtype


class GaussianLatents:
    """Mixin: ``q_φ(z | x) = N(mean_φ(x), diag(exp(2 log_scale_φ(x))))``, prior N(0, I); reparameterizable."""

    reparameterizable = True

    def encode(self, params: Params, data: jax.Array) -> tuple[jax.Array, jax.Array]:
        raise NotImplementedError

    def z_noise(self, params: Params, data: Any) -> Noise:
        return Noise("normal", (self.num_batch, self.particles, self.latent_dim))

    def sample_z(self, params: Params, data: jax.Array, eps: jax.Array) -> jax.Array:
        mean, log_scale = self.encode(params, data)
        return mean[:, None, :] + jnp.exp(log_scale)[:, None, :] * eps

    def log_q_terms(self, params: Params, data: jax.Array, z: jax.Array) -> jax.Array:
        mean, log_scale = self.encode(params, data)
        return jnp.sum(normal_log_density(z, mean[:, None, :], log_scale[:, None, :]), -1)

    def log_prior(self, params: Params, z: jax.Array) -> jax.Array:
        return jnp.sum(normal_log_density(z, 0.0, jnp.zeros_like(z)), -1)

    def kl(self, params: Params, data: jax.Array) -> jax.Array:
        mean, log_scale = self.encode(params, data)
        return 0.5 * jnp.sum(jnp.exp(2 * log_scale) + mean * mean - 1.0 - 2.0 * log_scale, -1)


@functools.lru_cache(maxsize=8)
def binary_configurations(latent: int) -> np.ndarray:
    """All 2^L binary vectors, shape (2^L, L); row c is the binary expansion of c (least significant first)."""
    return ((np.arange(2 ** latent)[:, None] >> np.arange(latent)[None, :]) & 1).astype(np.float64)
