"""Capabilities of problems, as typed protocols, checked in one place.

Each family of estimators needs problems with some structure: the pathwise estimator a latent that is a
differentiable function of params and noise, measure-valued gradients a Gaussian location-scale family, the
discrete-latent estimators logits and per-unit costs, the VI-as-RL estimators per-step rewards and oracle values.
Each such structure is a :class:`typing.Protocol` (the methods a problem provides) plus, where methods alone
cannot tell, a class flag that the problem sets. :class:`Capability` checks both, and :func:`require` raises the
one-line "does not apply" error, naming the registered problems that do have the capability, so that a new
problem (built in or from a plugin) appears in every such message without editing the estimators.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, NamedTuple, Protocol

import jax

from varbench.core.errors import NotApplicableError
from varbench.core.problem import Params
from varbench.core.registry import PROBLEMS

Array = jax.Array


class Reparameterizable(Protocol):
    """``latent(params, noise)`` is differentiable in params (flag ``reparameterizable = True``)."""

    reparameterizable: ClassVar[bool]

    def latent(self, params: Params, noise: Any) -> Any:
        """The latent as a function of params and noise, differentiable in params."""


class LocationScale(Protocol):
    """``x = mean + exp(log_scale) ⊙ ε`` with independent coordinates and a cost that does not depend on params
    (flag ``location_scale = True``); params ``mean`` and ``log_scale`` of shape (dim,)."""

    location_scale: ClassVar[bool]
    dim: int


class DiscreteLogits(Protocol):
    """Independent Bernoulli (``relaxation = "binary"``) or one-hot categorical (``"categorical"``) latents with
    logits, and the hooks of :mod:`varbench.problems.discrete`: the logits per cost unit, the cost of given
    latents per unit, and the direct part of the gradient at fixed latents."""

    relaxation: ClassVar[str]
    cost_unit_axes: ClassVar[int]

    def context_noise(self) -> Any:
        """The noise the logits depend on besides the params (a minibatch's rows), ``{}`` when none."""

    def latent_logits(self, params: Params, context: Any) -> Array:
        """The logits of every latent; the leading ``cost_unit_axes`` axes index cost units."""

    def unit_costs(self, params: Params, context: Any, b: Array) -> Array:
        """The cost of latents ``b`` (shaped like the logits) per cost unit, shape ``logits.shape[:cost_unit_axes]``."""

    def direct_surrogate(self, params: Params, context: Any, b: Array) -> Array:
        """A scalar whose gradient at fixed ``b`` is the direct part of the gradient (latents held fixed)."""


class Sequential(Protocol):
    """A Markov variational posterior read as a policy (Weber et al. 2015, "Reinforced Variational Inference"):
    per-step log-probabilities and rewards, and the exact (oracle) value and action-value functions."""

    sequential: ClassVar[bool]

    @property
    def num_steps(self) -> int:
        """T, the number of steps of a trajectory."""

    def step_log_probs(self, params: Params, z: Array) -> Array:
        """``log q_θ(z_t | z_{t−1})`` for t = 1..T, shape (T,)."""

    def rewards(self, params: Params, z: Array) -> Array:
        """The per-step rewards r_t, shape (T,)."""

    def value(self, params: Params, z: Array) -> Array:
        """The oracle values V_t(z_{t−1}) for t = 1..T+1, shape (T + 1,)."""

    def action_value(self, params: Params, z: Array) -> Array:
        """The oracle action values Q_t(z_{t−1}, z_t), shape (T,)."""

    def value_features(self, z: Array) -> Array:
        """Features of each state in which V_t is linear, shape (T, F)."""

    def action_features(self, z: Array) -> Array:
        """Features of each (state, action) in which Q_t is linear, shape (T, G)."""


class AmortizedInference(Protocol):
    """A variational distribution amortized over a data set by an encoder (flag ``amortized = True``), with
    parameter groups (``{"encoder": [...], "decoder": [...]}``) and the per-particle log-weights of the bound."""

    amortized: ClassVar[bool]
    particles: int

    def param_groups(self) -> dict[str, list[str]]:
        """The param names by group: ``{"encoder": [...], "decoder": [...]}``."""

    def log_weights(self, params: Params, x: Any) -> Array:
        """The log importance weights of the bound per data point and particle, shape (B, K)."""


class HasEntropy(Protocol):
    """The cost contains ``−log q`` (an ELBO), whose expectation ``entropy(params)`` gives in closed form."""

    has_entropy: ClassVar[bool]

    def entropy(self, params: Params) -> Array:
        """``H(q_θ)`` in closed form, a scalar."""


class AnalyticKL(Protocol):
    """The cost can be written with the KL to the prior in closed form (``cost_analytic_kl``); one particle."""

    particles: int

    def cost_analytic_kl(self, params: Params, x: Any) -> Array:
        """The cost with the KL to the prior in closed form, a scalar."""


class KnownDynamics(Protocol):
    """Known linear dynamics s_{t+1} = A s_t + B a_t + w_t (flag ``reparameterizable``): the true ``(A, B)``, the
    true trajectory differentiated through another model, and the observed transitions (model-based gradients)."""

    reparameterizable: ClassVar[bool]

    def dynamics(self) -> Any:
        """The true ``(A (n, n), B (n, m))``."""

    def latent_through_model(self, params: Params, noise: Any, a_model: Any, b_model: Any) -> Array:
        """The true trajectory, differentiated as if the dynamics were ``(a_model, b_model)``."""

    def transitions(self, z: Array) -> Any:
        """The observed transitions ``(states, actions, next states)`` of a trajectory."""

    def model_log_prob(self, params: Params, z: Array) -> Array:
        """``log p(z)`` under the model, a scalar."""

    def entropy(self, params: Params) -> Array:
        """``H(q_θ)`` in closed form, a scalar."""


class ClosedFormScore(Protocol):
    """The score ``∇_θ log q_θ(x)`` in closed form: ``score(params, x)`` returns ``{name: array}`` shaped like the
    params, equal to ``jax.grad(log_prob)(params, x)`` (the score-function estimators use it instead of
    differentiating ``log_prob`` per sample)."""

    def score(self, params: Params, x: Any) -> Params:
        """``∇_θ log q_θ(x)`` at one latent ``x``, ``{name: array shaped like params[name]}``."""


def _members(protocol: type) -> tuple[str, ...]:
    names = set(getattr(protocol, "__annotations__", {}))
    names |= {n for n, v in vars(protocol).items() if callable(v) or isinstance(v, property)}
    return tuple(sorted(n for n in names if not n.startswith("_")))


class Capability(NamedTuple):
    """A protocol a problem satisfies, with the flag or condition that methods alone cannot tell.

    ``needs`` is the noun phrase of error messages ("a reparameterizable problem"); ``condition`` is an extra
    check on the class (or instance, for options such as ``particles``).
    """

    name: str
    protocol: type
    needs: str
    condition: Callable[[Any], bool] = lambda obj: True
    instance_condition: Callable[[Any], bool] = lambda obj: True
    instance_needs: str = ""

    def satisfied_by_class(self, cls: type) -> bool:
        """Whether a problem class has the protocol's members and satisfies ``condition``.

        Args:
          cls: a problem class.

        Returns:
          True if every instance may have the capability (options can still rule it out).
        """
        return all(hasattr(cls, m) for m in _members(self.protocol)) and bool(self.condition(cls))

    def satisfied_by(self, problem: Any) -> bool:
        """Whether a problem, with its options, has the capability.

        Args:
          problem: a problem instance.

        Returns:
          True if its class satisfies the capability, the instance satisfies ``instance_condition`` and the
          problem names no gap for it (see :func:`capability_gap`).
        """
        return (self.satisfied_by_class(type(problem)) and bool(self.instance_condition(problem))
                and not capability_gap(problem, self.name))


def capability_gap(problem: Any, name: str) -> str:
    """Why a problem's options lack a capability its class has, in its own words (empty when they do not).

    A problem may define ``capability_gap(name) -> str`` for structure that options change (two stochastic
    layers make the logits of an sbn dependent); the refusal then says why and what applies instead.
    """
    gap = getattr(problem, "capability_gap", None)
    return gap(name) if callable(gap) and not isinstance(problem, type) else ""


REPARAMETERIZABLE = Capability("reparameterizable", Reparameterizable, "a reparameterizable problem",
                               lambda c: c.reparameterizable)
LOCATION_SCALE = Capability("location_scale", LocationScale, "a Gaussian location-scale problem",
                            lambda c: c.location_scale)
DISCRETE = Capability("discrete_logits", DiscreteLogits, "Bernoulli or categorical latents with logits",
                      lambda c: c.relaxation in ("binary", "categorical"))
BINARY = Capability("binary_logits", DiscreteLogits, "binary (Bernoulli) latents with logits",
                    lambda c: c.relaxation == "binary")
SEQUENTIAL = Capability("sequential", Sequential, "a sequential problem", lambda c: c.sequential)
AMORTIZED = Capability("amortized", AmortizedInference, "an amortized problem", lambda c: c.amortized)
HAS_ENTROPY = Capability("has_entropy", HasEntropy, "a problem whose cost contains -log q (an ELBO)",
                         lambda c: c.has_entropy)
ANALYTIC_KL = Capability("analytic_kl", AnalyticKL, "an amortized problem with an analytic KL term",
                         instance_condition=lambda p: p.particles == 1, instance_needs="particles=1")
KNOWN_DYNAMICS = Capability("known_dynamics", KnownDynamics, "a control problem with known linear dynamics",
                            lambda c: c.reparameterizable)
CLOSED_FORM_SCORE = Capability("closed_form_score", ClosedFormScore, "a problem with a closed-form score")

#: Every capability, in the order ``varbench list`` shows them.
CAPABILITIES = (REPARAMETERIZABLE, LOCATION_SCALE, DISCRETE, BINARY, SEQUENTIAL, AMORTIZED, HAS_ENTROPY,
                ANALYTIC_KL, KNOWN_DYNAMICS, CLOSED_FORM_SCORE)


def capabilities_of(problem_or_class: Any) -> list[str]:
    """The capabilities a problem class (or instance) has, as ``varbench list`` shows them.

    Args:
      problem_or_class: a problem class or instance (only its class is looked at).

    Returns:
      The names of the capabilities in :data:`CAPABILITIES` that its class satisfies, in that order.
    """
    cls = problem_or_class if isinstance(problem_or_class, type) else type(problem_or_class)
    return [c.name for c in CAPABILITIES if c.satisfied_by_class(cls)]


def require(problem: Any, capability: Capability, who: str, instead: str = "") -> None:
    """Refuse a problem that lacks a capability (call it from an estimator's ``check_applies``).

    Args:
      problem: the problem instance.
      capability: what the estimator needs (:data:`REPARAMETERIZABLE`, ...).
      who: the estimator, for the message (``"estimator 'pathwise'"``).
      instead: what to use otherwise (``"use score_function"``), or empty.

    Raises:
      NotApplicableError: one line naming what is needed and the registered problems that have it.
    """
    if capability.satisfied_by(problem):
        return
    hint = f"; {instead}" if instead else ""
    gap = capability_gap(problem, capability.name)
    if gap:
        raise NotApplicableError(f"{who} needs {capability.needs}; {gap}")
    if capability.satisfied_by_class(type(problem)):  # the class has it, these options do not
        raise NotApplicableError(f"{who} needs {capability.needs} with {capability.instance_needs}; "
                                 f"{problem.name!r} has other options{hint}")
    having = sorted(n for n, cls in PROBLEMS.items() if capability.satisfied_by_class(cls))
    have = f"problems that are: {', '.join(having)}" if having else "no registered problem is"
    raise NotApplicableError(f"{who} needs {capability.needs}; {problem.name!r} is not ({have}){hint}")
