"""The VI-as-RL estimators (Weber et al. 2015): unbiasedness, exact variances, the variance ordering, learned-critic bias."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from varbench.estimators.sequential import fit_critic

import varbench
from varbench.catalog import resolve_estimator, resolve_problem
from varbench.core.errors import NotApplicableError, VarbenchError
from varbench.testing import assert_unbiased

LGSSM = "lgssm:T=3"
HMM = "hmm:T=3"
ORACLE = ["score_function:returns=to_go,baseline=value", "actor_critic", "n_step:n=2", "gae:lambda=0.5",
          # the critic only enters as a baseline here, so a learned one keeps the estimator unbiased
          "score_function:returns=to_go,baseline=value,critic=learned"]
# The full return and reward-to-go need no critic; the generic code paths are shared by both problems.
NO_CRITIC = [(LGSSM, "score_function"), (HMM, "score_function:returns=to_go"), (LGSSM, "pathwise"),
             (LGSSM, "pathwise:entropy=sampled")]


@pytest.mark.statistical
@pytest.mark.parametrize("problem, estimator", [(p, e) for p in (LGSSM, HMM) for e in ORACLE] + NO_CRITIC)
def test_oracle_critic_estimators_are_unbiased(problem, estimator):
    out = assert_unbiased(problem, estimator, relative_bias=0.1, power=0.9, alpha=1e-3, max_samples=1_000_000)
    assert out.passed


def _exact(problem, estimator, params=None):
    return varbench.measure(problem, estimator, params=params, method="exact")


@pytest.mark.parametrize("problem, estimator", [(LGSSM, "gae:lambda=0.5"), (HMM, "actor_critic:critic=learned")])
def test_exact_variances_agree_with_monte_carlo(problem, estimator):
    exact = _exact(problem, estimator)
    mc = varbench.measure(problem, estimator, num_samples=200_000)  # same seed, so the same learned critic
    for name, v in exact.variance.items():
        lo, hi = mc.variance_ci[name][..., 0], mc.variance_ci[name][..., 1]
        half = (np.log(hi) - np.log(lo)) / 2  # 1.96 standard errors on the log scale
        assert np.all(np.abs(np.log(mc.variance[name]) - np.log(v)) < 2.6 * half), name
        # Same learned critic in both modes (same seed's init key), so the bias matches too.
        np.testing.assert_allclose(mc.grad_mean[name], exact.grad_mean[name], atol=6 * np.max(mc.grad_se[name]))


@pytest.mark.parametrize("problem", [LGSSM, HMM])
def test_variance_ordering_full_to_go_value_baseline_is_measured(problem):
    totals = {spec: _exact(problem, spec).total_variance for spec in
              ("score_function", "score_function:returns=to_go", "score_function:returns=to_go,baseline=value")}
    full, to_go, value = totals.values()
    print(problem, totals)
    assert full > to_go > value


def test_gae_variance_and_learned_critic_bias_move_with_lambda():
    def bias_norm(res):
        return float(np.sqrt(sum(np.sum(b ** 2) for b in res.bias.values())))

    oracle = {lam: _exact(HMM, f"gae:lambda={lam}") for lam in (0.0, 0.5, 1.0)}
    learned = {lam: _exact(HMM, f"gae:lambda={lam},critic=learned,critic_samples=300") for lam in (0.0, 0.5, 1.0)}
    print({lam: (r.total_variance, bias_norm(r)) for lam, r in oracle.items()},
          {lam: (r.total_variance, bias_norm(r)) for lam, r in learned.items()})
    # (λ = 0 and λ = 1 are the one-step TD advantage and the value baseline estimate for estimate: test_returns.py.)
    # Variance grows with λ here (less bootstrapping, more sampled rewards).
    assert oracle[0.0].total_variance < oracle[0.5].total_variance < oracle[1.0].total_variance
    # Oracle critic: unbiased at every λ. Learned critic: biased for λ < 1, unbiased at λ = 1 (pure baseline).
    assert max(bias_norm(r) for r in oracle.values()) < 1e-10
    assert bias_norm(learned[1.0]) < 1e-10
    assert bias_norm(learned[0.0]) > bias_norm(learned[0.5]) > 1e-3
    # Size predicted: with a uniform, step-independent q (all logits 0, given explicitly: the default is generic)
    # only δ's bootstrap term V̂_{t+1}(z_t) is correlated with the score of step t, and GAE weights it by (1 − λ);
    # so bias(λ) = (1 − λ)·bias(0) exactly there (at the generic default only roughly: 0.52 instead of 0.5).
    uniform = {"init_logits": 0.0, "transition_logits": 0.0}
    at_uniform = {lam: _exact(HMM, f"gae:lambda={lam},critic=learned,critic_samples=300", uniform)
                  for lam in (0.0, 0.5)}
    assert bias_norm(at_uniform[0.0]) > 1e-3
    for name in at_uniform[0.0].bias:
        np.testing.assert_allclose(at_uniform[0.5].bias[name], 0.5 * at_uniform[0.0].bias[name], rtol=1e-6,
                                   atol=1e-12)
    # The bias is the critic's regression error: a larger fitting budget shrinks it (roughly like 1/√N).
    precise = _exact(HMM, "gae:lambda=0,critic=learned,critic_samples=30000")
    assert bias_norm(precise) < bias_norm(learned[0.0]) / 2


def test_learned_critic_recovers_the_oracle_with_a_large_budget():
    problem = resolve_problem(LGSSM)
    params = {k: jnp.asarray(v) for k, v in problem.default_params().items()}
    state = jax.jit(fit_critic, static_argnums=(0, 3))(problem, params, jax.random.key(0), 100_000)
    z = problem.latent(params, jnp.array([0.5, -1.0, 0.8]))
    oracle_v, oracle_q = problem.value(params, z), problem.action_value(params, z)
    from varbench.estimators.sequential import critic_values
    v, q = critic_values(problem, params, state, z, "learned")
    np.testing.assert_allclose(v, oracle_v, rtol=0.05, atol=0.3)
    np.testing.assert_allclose(q, oracle_q, rtol=0.05, atol=0.3)


def test_pathwise_entropy_forms():
    # On the structured Gaussian q, log q(g_θ(ε)) = −Σ log s_t − |ε|²/2 − const: the sampled and analytic
    # entropy forms have the same θ-derivative estimate for estimate.
    problem = resolve_problem(LGSSM)
    params = {k: jnp.asarray(v) + 0.1 for k, v in problem.default_params().items()}
    noise = jax.random.normal(jax.random.key(1), (1, 3))
    a = resolve_estimator("pathwise").estimate_from_noise(problem, params, (), noise)
    s = resolve_estimator("pathwise:entropy=sampled").estimate_from_noise(problem, params, (), noise)
    for k in a:
        np.testing.assert_allclose(a[k], s[k], rtol=1e-5, atol=1e-5)
    # Without an entropy term in the cost, `sampled` is refused and `analytic` is the plain pathwise estimator.
    with pytest.raises(NotApplicableError, match="entropy=analytic"):
        varbench.measure("gaussian", "pathwise:entropy=sampled", num_samples=10)
    gaussian = resolve_problem("gaussian")
    gp = {k: jnp.asarray(v) for k, v in gaussian.default_params().items()}
    eps = jnp.array([[0.3]])
    np.testing.assert_allclose(resolve_estimator("pathwise").estimate_from_noise(gaussian, gp, (), eps)["mean"],
                               2 * (1 + 0.3 - 1), rtol=1e-6)


@pytest.mark.parametrize("spec, error, match", [
    ("score_function:baseline=value", VarbenchError, "needs returns=to_go"),
    ("score_function:returns=to_go,baseline=mean,samples=2", VarbenchError, "'baseline' .* must be one of none, value"),
    ("score_function:critic=learned", VarbenchError, "only with baseline=value"),
    ("gae:lambda=1.5", VarbenchError, "in \\[0, 1\\]"),
])
def test_bad_option_combinations_are_refused(spec, error, match):
    with pytest.raises(error, match=match):
        resolve_estimator(spec)


@pytest.mark.parametrize("spec", ["actor_critic", "n_step", "gae", "score_function:returns=to_go"])
def test_sequential_estimators_refuse_non_sequential_problems(spec):
    with pytest.raises(NotApplicableError, match="sequential problem"):
        varbench.measure("gaussian", spec, num_samples=10)


_FIT_LOOP = """
import sys, jax, numpy as np
import varbench
varbench.configure()  # as the CLI does, before JAX starts: XLA's flags (single-threaded Eigen) are settings
from varbench.catalog import resolve_estimator, resolve_problem
from varbench.engine import _kernels, _state
from varbench.engine.params import prepare_params
for spec in ("gae:lambda=0.9,critic=learned", "gae:lambda=0.9,critic=td"):
    problem, estimator = resolve_problem("nile"), resolve_estimator(spec)
    subject = _kernels.kernel_subject(problem, estimator, prepare_params(problem, None, np.float32))
    for i in range(600):  # the hang came within ~500 fits; each spec fits twice per call
        jax.block_until_ready(_state.init_state(subject, jax.random.key(i)))
print("fitted")
"""


def test_fitting_critics_again_and_again_never_deadlocks():
    # Two LAPACK calls in flight at once (the V and Q fits) once held both threads of XLA's intra-op pool on a
    # 2-core machine, each waiting for work queued behind the other: a loop like this one hung within ~500 fits.
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _FIT_LOOP], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "fitted" in proc.stdout, proc.stderr[-2000:]


def test_sequential_options_build_the_sequential_score_function():
    from varbench.catalog import spec_of
    from varbench.estimators import ScoreFunction, SequentialScoreFunction

    for spec, cls, label in [("score_function:returns=to_go,baseline=value,critic=learned", SequentialScoreFunction,
                              "score_function:baseline=value,returns=to_go,critic=learned"),
                             ("score_function:returns=to_go", SequentialScoreFunction, "score_function:returns=to_go"),
                             ("score_function:returns=full", ScoreFunction, "score_function"),
                             ("score_function:critic=oracle,samples=2", ScoreFunction, "score_function:samples=2")]:
        estimator = resolve_estimator(spec)
        assert type(estimator) is cls and spec_of(estimator) == label
        assert resolve_estimator(label) == estimator
    with pytest.raises(VarbenchError, match="'decay' .* does not apply"):
        resolve_estimator("score_function:returns=to_go,decay=0.5")
    # The plain score function on a sequential problem IS the per-step estimator at its defaults.
    problem = resolve_problem(LGSSM)
    params = {k: jnp.asarray(v) for k, v in problem.default_params().items()}
    key = jax.random.key(3)
    np.testing.assert_array_equal(ScoreFunction(samples=2).estimate(problem, params, (), key)["alpha"],
                                  SequentialScoreFunction(samples=2).estimate(problem, params, (), key)["alpha"])
