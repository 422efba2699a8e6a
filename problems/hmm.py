"""A hidden Markov model with Gaussian emissions and a Markov-chain variational posterior."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from varbench.problems.lgssm import normal_log_pdf
from varbench.problems.sequential import SequentialProblem, check_observations, observations_option, steps_option

from varbench.core.errors import VarbenchError
from varbench.core.generic import DEFAULT_SEED, generic_defaults
from varbench.core.noise import Discrete
from varbench.core.problem import Params
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_problem

#: Seed of the default observations (drawn once from the model, in NumPy, so they never change).
OBSERVATION_SEED = 0


def _log_softmax_np(x: np.ndarray) -> np.ndarray:
    return x - np.logaddexp.reduce(x, axis=-1, keepdims=True)


@dataclasses.dataclass(frozen=True, eq=False)
class MarkovChainPath(Discrete):
    """One path z_1..z_T of a Markov chain with per-step transition logits, as one-hot rows (T, K).

    ``step_logits`` has shape (T, K, K): row i of step t holds the logits of z_t given z_{t−1} = i; step 1 uses
    row 0 (the dummy state z_0 = 0). ``sample`` draws the path with one key per step (``lax.scan``);
    ``enumerate`` lists all K^T paths with their probabilities (exact mode).
    """

    step_logits: Any

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return tuple(np.shape(self.step_logits)[:2])

    @property
    def num_configurations(self) -> int:
        steps, k = self.shape
        return k ** steps

    def sample(self, key: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        steps, k = self.shape

        def step(state, inputs):
            logits, step_key = inputs
            nxt = jax.random.categorical(step_key, logits[state])
            return nxt, nxt

        _, path = jax.lax.scan(step, jnp.zeros((), jnp.int32), (self.step_logits, jax.random.split(key, steps)))
        return jax.nn.one_hot(path, k, dtype=dtype)

    def enumerate(self) -> tuple[np.ndarray, np.ndarray]:
        steps, k = self.shape
        log_p = _log_softmax_np(np.asarray(self.step_logits, np.float64))
        paths = np.array(list(itertools.product(range(k), repeat=steps)), dtype=np.int64).reshape(-1, steps)
        previous = np.concatenate([np.zeros((len(paths), 1), np.int64), paths[:, :-1]], axis=1)
        weights = np.exp(np.sum(log_p[np.arange(steps)[None, :], previous, paths], axis=1))
        return np.eye(k)[paths], weights


@register_problem
@pytree_dataclass
class HMM(SequentialProblem):
    """ELBO of a K-state HMM with Gaussian emissions under a Markov-chain variational posterior.

    Model: z_1 uniform on K states, P(z_t = j | z_{t−1} = i) = stay if i = j else (1 − stay)/(K − 1),
    y_t ~ N(means[z_t], emission_scale²) with ``means`` evenly spaced on [−2, 2] by default.
    Variational family: q(z_1) = softmax(init_logits), q(z_t | z_{t−1} = i) = softmax(transition_logits[t−2, i])
    (a Markov chain with per-step transitions; it contains the exact posterior, which is Markov).

    Rewards r_t = log p(y_t | z_t) + log p(z_t | z_{t−1}) − log q(z_t | z_{t−1}); cost Σ_t r_t; objective the
    ELBO. Reference: Weber et al. (2015), "Reinforced Variational Inference"; Rabiner (1989) for the forward algorithm.

    Exact quantities: oracle Q_t(i, j) = r_t(i, j) + V_{t+1}(j) and V_t(i) = Σ_j q_t(j | i) Q_t(i, j) by a
    backward recursion; ``objective_exact`` = V_1; ``log_evidence`` by the forward algorithm. Exact estimator
    variances by enumerating the K^T paths (noise block :class:`MarkovChainPath`).

    Assumptions: discrete, not reparameterizable, sequential. Default params: a generic point, every logit 0.15 to
    0.45 away from 0 with a seeded sign (seed 0, see :mod:`varbench.core.generic`): q ignores the data but is not
    uniform, so the states differ (at uniform logits a learned critic looks unbiased for n ≥ 2 only because every
    state is alike). One cost evaluation is one evaluation of Σ_t r_t along a path.
    """

    name = "hmm"
    summary = "K-state HMM with Gaussian emissions, Markov-chain q, rewards = per-step free energies (Weber et al. 2015)"
    discrete = True

    K: int = option(3, "number of hidden states", kind=int, minimum=2)
    T: int = steps_option(4)
    stay: float = option(0.8, "prior probability of staying in the same state", kind=float, minimum=1e-9)
    emission_scale: float = option(1.0, "standard deviation of y_t given z_t", kind=float, minimum=1e-9)
    means: tuple | None = option(None, "emission means (list of length K); default evenly spaced on [-2, 2]",
                                 kind=list, convert=lambda v: tuple(float(x) for x in v))
    y: tuple | None = observations_option()

    def validate(self) -> None:
        if not self.stay < 1:
            raise VarbenchError(f"option 'stay' of problem 'hmm' must be in (0, 1); got {self.stay}")
        if self.means is not None and len(self.means) != self.K:
            raise VarbenchError(f"option 'means' of problem 'hmm' must have length K={self.K}; got {len(self.means)}")
        check_observations(self)

    def emission_means(self) -> np.ndarray:
        """The emission means, shape ``(K,)``: the option ``means``, or K points evenly spaced on [−2, 2]."""
        return np.asarray(self.means if self.means is not None else np.linspace(-2.0, 2.0, self.K), np.float64)

    def prior_transition(self) -> np.ndarray:
        """The prior's transition matrix, shape ``(K, K)``: ``stay`` on the diagonal, ``(1 − stay)/(K − 1)`` off it."""
        off = (1.0 - self.stay) / (self.K - 1)
        return np.full((self.K, self.K), off) + (self.stay - off) * np.eye(self.K)

    def observations(self) -> np.ndarray:
        """The observations y_1..y_T, shape ``(T,)``: the option ``y``, or one path drawn from the model (seed
        :data:`OBSERVATION_SEED`, so it never changes).
        """
        if self.y is not None:
            return np.asarray(self.y, np.float64)
        rng = np.random.default_rng(OBSERVATION_SEED)
        states = [rng.integers(self.K)]
        for _ in range(1, self.T):
            states.append(rng.choice(self.K, p=self.prior_transition()[states[-1]]))
        return self.emission_means()[states] + self.emission_scale * rng.standard_normal(self.T)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"init_logits": (self.K,), "transition_logits": (self.T - 1, self.K, self.K)}

    def default_params(self) -> dict[str, np.ndarray]:
        base = {"init_logits": np.zeros(self.K), "transition_logits": np.zeros((self.T - 1, self.K, self.K))}
        return generic_defaults(base, DEFAULT_SEED, dtype=np.float32)

    # --- per-step tables (T, K, K): [t, i, j] for z_{t−1} = i, z_t = j; step 1 ignores i -------------------

    def q_log_table(self, params: Params) -> jax.Array:
        """The variational log transition probabilities ``log q(z_t = j | z_{t−1} = i)`` as a table ``[t, i, j]``.

        Step 1 is ``log softmax(init_logits)`` for every row i (it ignores the dummy state z_0).

        Args:
          params: ``init_logits`` (K,) and ``transition_logits`` (T − 1, K, K).

        Returns:
          The table, shape ``(T, K, K)``.
        """
        init = jnp.broadcast_to(params["init_logits"], (1, self.K, self.K))
        return jax.nn.log_softmax(jnp.concatenate([init, params["transition_logits"]]), axis=-1)

    def model_log_table(self, dtype: Any) -> jax.Array:
        """The model's per-step log joint ``log p(z_t = j | z_{t−1} = i) + log p(y_t | z_t = j)``, as ``[t, i, j]``.

        Step 1 uses the uniform initial distribution ``−log K`` for every row i.

        Args:
          dtype: the dtype of the result.

        Returns:
          The table, shape ``(T, K, K)``.
        """
        prior = np.log(self.prior_transition())
        first = np.full((1, self.K, self.K), -np.log(self.K))
        emission = normal_log_pdf(self.observations()[:, None], self.emission_means()[None, :],
                                  self.emission_scale ** 2)  # (T, K)
        table = np.concatenate([first, np.broadcast_to(prior, (self.T - 1, self.K, self.K))]) + emission[:, None, :]
        return jnp.asarray(table, dtype)

    def reward_table(self, params: Params) -> jax.Array:
        """The rewards ``r_t(i, j) = log p(y_t, z_t = j | z_{t−1} = i) − log q(z_t = j | z_{t−1} = i)`` (Weber et al.
        2015).

        Args:
          params: ``init_logits`` (K,) and ``transition_logits`` (T − 1, K, K).

        Returns:
          The table, shape ``(T, K, K)``, indexed ``[t, i, j]`` as :meth:`q_log_table`.
        """
        q = self.q_log_table(params)
        return self.model_log_table(q.dtype) - q

    def latent_noise(self, params: Params) -> MarkovChainPath:
        return MarkovChainPath(jnp.concatenate([jnp.broadcast_to(params["init_logits"], (1, self.K, self.K)),
                                                params["transition_logits"]]))

    def latent(self, params: Params, noise: jax.Array) -> jax.Array:
        return noise

    @staticmethod
    def _previous(z: jax.Array) -> jax.Array:
        first = jax.nn.one_hot(0, z.shape[-1], dtype=z.dtype)[None]
        return jnp.concatenate([first, z[:-1]])

    def _along(self, table: jax.Array, z: jax.Array) -> jax.Array:
        """table[t, z_{t−1}, z_t] for each t."""
        return jnp.einsum("ti,tij,tj->t", self._previous(z), table, z)

    def step_log_probs(self, params: Params, z: jax.Array) -> jax.Array:
        return self._along(self.q_log_table(params), z)

    def model_step_log_probs(self, params: Params, z: jax.Array) -> jax.Array:
        return self._along(self.model_log_table(z.dtype), z)

    # --- oracle value functions ---------------------------------------------------------------------------

    def value_tables(self, params: Params) -> tuple[jax.Array, jax.Array]:
        """V (T + 1, K) with V[t−1, i] = V_t(z_{t−1} = i), and Q (T, K, K) with Q[t−1, i, j] = Q_t(i, j)."""
        q_log, rewards = self.q_log_table(params), self.reward_table(params)

        def backward(v_next, step):
            log_q, r = step
            action = r + v_next[None, :]
            v = jnp.sum(jnp.exp(log_q) * action, axis=-1)
            return v, (v, action)

        _, (v, q) = jax.lax.scan(backward, jnp.zeros((self.K,), rewards.dtype), (q_log, rewards), reverse=True)
        return jnp.concatenate([v, jnp.zeros((1, self.K), v.dtype)]), q

    def value(self, params: Params, z: jax.Array) -> jax.Array:
        v, _ = self.value_tables(params)
        return jnp.concatenate([jnp.sum(self._previous(z) * v[:-1], -1), jnp.zeros((1,), z.dtype)])

    def action_value(self, params: Params, z: jax.Array) -> jax.Array:
        _, q = self.value_tables(params)
        return self._along(q, z)

    def value_features(self, z: jax.Array) -> jax.Array:
        return self._previous(z)

    def action_features(self, z: jax.Array) -> jax.Array:
        return (self._previous(z)[:, :, None] * z[:, None, :]).reshape(self.T, self.K * self.K)

    # --- exact objective and evidence ---------------------------------------------------------------------

    def objective_exact(self, params: Params) -> jax.Array:
        v, _ = self.value_tables(params)
        return v[0, 0]

    def entropy(self, params: Params) -> jax.Array:
        # H(q) = −E_q[Σ_t log q_t]: the value recursion with rewards −log q.
        q_log = self.q_log_table(params)

        def backward(h_next, log_q):
            h = jnp.sum(jnp.exp(log_q) * (-log_q + h_next[None, :]), axis=-1)
            return h, None

        h, _ = jax.lax.scan(backward, jnp.zeros((self.K,), q_log.dtype), q_log, reverse=True)
        return h[0]

    def log_evidence(self, params: Params | None = None) -> jax.Array:
        """Forward algorithm: log p(y) = log Σ_z p(y, z), by a log-space recursion over t."""
        table = self.model_log_table(jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
        alpha = table[0, 0]
        for t in range(1, self.T):
            alpha = jax.nn.logsumexp(alpha[:, None] + table[t], axis=0)
        return jax.nn.logsumexp(alpha)
