"""Variational autoencoders with Gaussian latents on the scikit-learn digits: ``linear_vae`` and ``gaussian_vae``."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from varbench.problems.amortized import (
    Amortized,
    GaussianLatents,
    dense_init,
    latent_option,
    normal_log_density,
)
from varbench.problems.data import digits

from varbench.core.errors import VarbenchError
from varbench.core.problem import Params
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_problem


@register_problem
@pytree_dataclass
class LinearVAE(GaussianLatents, Amortized):
    """Linear-Gaussian VAE: p(z) = N(0, I), p(x|z) = N(W z + b, σ² I), q(z|x) = N(A x + c, diag(exp(2 d))).

    Probabilistic PCA (Tipping & Bishop 1999) fitted by amortized VI (Kingma & Welling 2014), on the first
    ``data_subset`` standardized scikit-learn digits (D = 64). Params: encoder ``enc_weight`` A (D, L),
    ``enc_bias`` c (L,), ``enc_log_scale`` d (L,) (one scale per latent, shared by all inputs); decoder
    ``dec_weight`` W (L, D), ``dec_bias`` b (D,) and ``dec_log_sigma`` log σ (a learnable scalar). The objective is
    the negative ELBO (or K-sample bound, see :mod:`varbench.problems.amortized`) averaged over the subset.

    Assumptions: continuous, reparameterizable, amortized. Exact objective (K = 1) in closed form per data point,
    with m = A x + c and s = exp(d):
      E_q log p(x|z) = −D/2 log 2π − D log σ − (‖x − W m − b‖² + Σ_{j,l} W_lj² s_l²) / (2σ²)
      KL(q‖p)        = ½ Σ_l (s_l² + m_l² − 1 − 2 d_l);
    its gradient by autodiff. For K > 1 there is no closed form (``has_exact_objective`` is False then; use
    ``reference_gradient``). One cost evaluation is one evaluation of the minibatch's bound.
    """

    name = "linear_vae"
    summary = "linear-Gaussian VAE on standardized digits, closed-form ELBO (amortized pPCA)"

    latent_dim: int = latent_option(2)

    @property
    def has_exact_objective(self) -> bool:  # type: ignore[override]
        return self.particles == 1

    def dataset(self) -> np.ndarray:
        return digits(self.data_subset)

    def init_params(self, rng: np.random.RandomState) -> dict[str, np.ndarray]:
        d, l = 64, self.latent_dim
        return {"enc_weight": 0.5 * dense_init(rng, d, l), "enc_bias": np.zeros(l, np.float32),
                "enc_log_scale": np.full(l, -1.0, np.float32), "dec_weight": dense_init(rng, l, d),
                "dec_bias": np.zeros(d, np.float32), "dec_log_sigma": np.zeros((), np.float32)}

    def encode(self, params: Params, data: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean = data @ params["enc_weight"] + params["enc_bias"]
        return mean, jnp.broadcast_to(params["enc_log_scale"], mean.shape)

    def log_likelihood(self, params: Params, data: jax.Array, z: jax.Array) -> jax.Array:
        mean = z @ params["dec_weight"] + params["dec_bias"]
        return jnp.sum(normal_log_density(data[:, None, :], mean, params["dec_log_sigma"]), -1)

    def objective_exact(self, params: Params) -> jax.Array:
        x = jnp.asarray(self.dataset(), params["dec_weight"].dtype)
        w, log_sigma = params["dec_weight"], params["dec_log_sigma"]
        m, log_s = self.encode(params, x)
        residual = x - m @ w - params["dec_bias"]
        spread = jnp.sum(jnp.exp(2 * params["enc_log_scale"]) @ (w * w))
        dim = x.shape[1]
        expected_loglik = (-0.5 * dim * math.log(2 * math.pi) - dim * log_sigma
                           - 0.5 * (jnp.sum(residual ** 2, -1) + spread) * jnp.exp(-2 * log_sigma))
        return -jnp.mean(expected_loglik - self.kl(params, x))


@register_problem
@pytree_dataclass
class GaussianVAE(GaussianLatents, Amortized):
    """VAE with one-hidden-layer tanh MLP encoder and decoder, Gaussian latents, on the standardized digits.

    Kingma & Welling (2014), "Auto-Encoding Variational Bayes", §3 and Appendix C (MLP encoder/decoder);
    Levine's CS285 lectures on (amortized) variational inference (reparameterization vs score function for
    the encoder). q(z|x) = N(μ(x), diag(exp(2 s(x)))) with ``[μ, s] = MLP_enc(x)``; p(z) = N(0, I);
    p(x|z) = N(MLP_dec(z), σ² I) with a learnable scalar ``dec_log_sigma``. Params ``enc_w1, enc_b1, enc_w_mean, enc_b_mean, enc_w_scale, enc_b_scale`` and
    ``dec_w1, dec_b1, dec_w2, dec_b2, dec_log_sigma``.

    Assumptions: continuous, reparameterizable, amortized. There is no closed form: ``has_exact_objective`` is
    False and :func:`varbench.reference_gradient` gives a full-batch pathwise estimate with its standard error. One cost
    evaluation is one evaluation of the minibatch's bound.
    """

    name = "gaussian_vae"
    summary = "MLP VAE on standardized digits; no closed form (varbench.reference_gradient with its standard error)"
    has_exact_objective = False

    latent_dim: int = latent_option(2)
    hidden: int = option(32, "hidden units of the encoder's and the decoder's tanh layer", kind=int, minimum=1)

    def dataset(self) -> np.ndarray:
        return digits(self.data_subset)

    def init_params(self, rng: np.random.RandomState) -> dict[str, np.ndarray]:
        d, h, l = 64, self.hidden, self.latent_dim
        zeros = lambda n: np.zeros(n, np.float32)
        return {"enc_w1": dense_init(rng, d, h), "enc_b1": zeros(h), "enc_w_mean": dense_init(rng, h, l),
                "enc_b_mean": zeros(l), "enc_w_scale": 0.1 * dense_init(rng, h, l),
                "enc_b_scale": np.full(l, -1.0, np.float32), "dec_w1": dense_init(rng, l, h), "dec_b1": zeros(h),
                "dec_w2": dense_init(rng, h, d), "dec_b2": zeros(d), "dec_log_sigma": np.zeros((), np.float32)}

    def encode(self, params: Params, data: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = jnp.tanh(data @ params["enc_w1"] + params["enc_b1"])
        return h @ params["enc_w_mean"] + params["enc_b_mean"], h @ params["enc_w_scale"] + params["enc_b_scale"]

    def log_likelihood(self, params: Params, data: jax.Array, z: jax.Array) -> jax.Array:
        mean = jnp.tanh(z @ params["dec_w1"] + params["dec_b1"]) @ params["dec_w2"] + params["dec_b2"]
        return jnp.sum(normal_log_density(data[:, None, :], mean, params["dec_log_sigma"]), -1)

    def objective_exact(self, params: Params) -> jax.Array:
        raise VarbenchError("gaussian_vae has no exact objective; use varbench.reference_gradient (mean and standard error)")
