"""The local-level model on the Nile river series, with an amortized inference network shared across time.

Weber et al. (2015), "Reinforced Variational Inference", illustrate VI-as-RL with a time series and an inference
network q(z_t | x_t, x_{t−1}, z_{t−1}) read as a policy. Here the model is the local-level model of Durbin &
Koopman (2012), "Time Series Analysis by State Space Methods", 2nd ed., §2.1 (their running example is this very
series), and the inference network is affine, so every expectation stays Gaussian and exact.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from varbench.problems.lgssm import LGSSM
from varbench.problems.sequential import SequentialProblem, steps_option

from varbench.core.errors import VarbenchError
from varbench.core.generic import DEFAULT_SEED, generic_defaults
from varbench.core.noise import Noise
from varbench.core.problem import Params
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_problem

#: Annual flow of the Nile at Aswan, 1871–1970, in 10⁸ m³ (100 values). Source: Cobb (1978), "The problem of the
#: Nile: conditional solution to a changepoint problem", Biometrika 65(2), 243–251; distributed as R's
#: ``datasets::Nile`` and statsmodels' ``nile`` data set (documented there as public domain), and used throughout
#: Durbin & Koopman (2012). Measurements of a river are facts, not a creative work; bundled here verbatim.
NILE_FLOW = (
    1120, 1160, 963, 1210, 1160, 1160, 813, 1230, 1370, 1140,
    995, 935, 1110, 994, 1020, 960, 1180, 799, 958, 1140,
    1100, 1210, 1150, 1250, 1260, 1220, 1030, 1100, 774, 840,
    874, 694, 940, 833, 701, 916, 692, 1020, 1050, 969,
    831, 726, 456, 824, 702, 1120, 1100, 832, 764, 821,
    768, 845, 864, 862, 698, 845, 744, 796, 1040, 759,
    781, 865, 845, 944, 984, 897, 822, 1010, 771, 676,
    649, 846, 812, 742, 801, 1040, 860, 874, 848, 890,
    744, 749, 838, 1050, 918, 986, 797, 923, 975, 815,
    1020, 906, 901, 1170, 912, 746, 919, 718, 714, 740,
)
FIRST_YEAR = 1871
#: The problem works in units of 10¹⁰ m³ (flow / 100) so that float32 moments of the gradients stay small.
SCALE = 100.0


@register_problem
@pytree_dataclass
class Nile(SequentialProblem):
    """ELBO of the local-level model on a window of the Nile series under an amortized affine inference network.

    Model (Durbin & Koopman 2012, §2.1), in units of 10¹⁰ m³ (flow / 100): z_1 ~ N(init_mean, init_var),
    z_t = z_{t−1} + w_t, w_t ~ N(0, process_var), x_t = z_t + v_t, v_t ~ N(0, obs_var), on the T observations
    starting at year 1871 + ``start``. The default variances are Durbin & Koopman's maximum-likelihood estimates
    (σ²_ε = 15099, σ²_η = 1469.1 in (10⁸ m³)²); a proper prior on z_1 replaces their diffuse initialisation.

    Inference network (Weber et al. 2015's time-series example), shared across the T steps:
    q(z_t | z_{t−1}, x_t, x_{t−1}) = N(a z_{t−1} + b x_t + c x_{t−1} + d, s²), params ``weights`` = (a, b, c),
    ``bias`` = (d,), ``log_scale`` = (log s,). At t = 1 the missing z_0 and x_0 are replaced by x_1.

    Exact quantities: it is an lgssm (transition 1) in coordinates centred at ``init_mean`` (a shift of z and x
    leaves the ELBO unchanged), with per-step coefficients α_t = a, β_t = b x_t + c x_{t−1} + d + μ(a + b + c − 1)
    (centred data, μ = init_mean) and s_t = s; ``objective_exact``, the oracle V and Q, the Kalman evidence and
    the entropy come from :class:`varbench.problems.lgssm.LGSSM` composed with this map, and gradients flow through
    it by autodiff. Latents are in the centred coordinates z − init_mean.

    Default params: a generic network from seeded offsets (seed 0; see :meth:`default_params`), not the special
    a = 1, b = c = d = 0, s = 1 (q following the random walk).

    Assumptions: continuous, reparameterizable, sequential; the network is affine, so the family does not contain
    the exact posterior (its per-step gains are time-varying) and the ELBO stays below ``log_evidence``. One cost
    evaluation is one evaluation of Σ_t r_t along a trajectory of T steps.
    """

    name = "nile"
    summary = "local-level model on the Nile flow series with an amortized affine q(z_t|z_t-1,x_t,x_t-1) (Weber et al. 2015)"
    reparameterizable = True

    T: int = steps_option(20, "window length (number of years)", minimum=2)
    start: int = option(0, "first year of the window, counted from 1871", kind=int, minimum=0)
    obs_var: float = option(1.5099, "observation variance (units of (1e10 m^3)^2)", kind=float, minimum=1e-12)
    process_var: float = option(0.14691, "level innovation variance", kind=float, minimum=1e-12)
    init_mean: float = option(10.0, "prior mean of the first level", kind=float)
    init_var: float = option(10.0, "prior variance of the first level", kind=float, minimum=1e-12)

    def validate(self) -> None:
        if self.start + self.T > len(NILE_FLOW):
            raise VarbenchError(f"problem 'nile' has {len(NILE_FLOW)} years: start + T must be <= {len(NILE_FLOW)}; "
                                f"got start={self.start}, T={self.T}")

    def observations(self) -> np.ndarray:
        """The window, in units of 10¹⁰ m³."""
        return np.asarray(NILE_FLOW[self.start:self.start + self.T], np.float64) / SCALE

    def state_space_model(self) -> LGSSM:
        """The same model as an lgssm in coordinates centred at ``init_mean``."""
        centred = self.observations() - self.init_mean
        return LGSSM(T=self.T, transition=1.0, process_var=self.process_var, init_var=self.init_var,
                     obs_var=self.obs_var, y=tuple(float(v) for v in centred))

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"weights": (3,), "bias": (1,), "log_scale": (1,)}

    def default_params(self) -> dict[str, np.ndarray]:
        """A generic network from seeded offsets o of 0.15 to 0.45 in either direction (seed 0, see
        :mod:`varbench.core.generic`): b = |o_b|, c = o_c / 4, a = 1 − b − c + o_a / 10 (so a + b + c stays near 1
        and q's level follows the data's instead of drifting by init_mean·(a + b + c − 1) a step), d = o_d / 10,
        log s = o_s: a = 0.516, b = 0.394, c = 0.106, d = 0.034, log s = −0.162, a poor start (its ELBO on the
        default window is −102 against log p(x) = −38)."""
        o = generic_defaults({"weights": np.zeros(3), "bias": np.zeros(1), "log_scale": np.zeros(1)}, DEFAULT_SEED)
        b, c = abs(o["weights"][1]), o["weights"][2] / 4
        weights = np.array([1.0 - b - c + o["weights"][0] / 10, b, c])
        return {"weights": weights.astype(np.float32), "bias": (o["bias"] / 10).astype(np.float32),
                "log_scale": o["log_scale"].astype(np.float32)}

    def step_coefficients(self, params: Params) -> Params:
        """The network's per-step coefficients as lgssm params ``alpha`` (T − 1,), ``beta`` (T,), ``log_scale`` (T,)."""
        dtype = params["bias"].dtype
        a, b, c = params["weights"][0], params["weights"][1], params["weights"][2]
        x = jnp.asarray(self.observations() - self.init_mean, dtype)
        x_prev = jnp.concatenate([x[:1], x[:-1]])
        beta = b * x + c * x_prev + params["bias"][0] + self.init_mean * (a + b + c - 1)
        beta = beta.at[0].add(a * x[0])  # step 1: z_0 is replaced by x_1
        return {"alpha": jnp.full((self.T - 1,), a, dtype), "beta": beta,
                "log_scale": jnp.full((self.T,), params["log_scale"][0], dtype)}

    # --- everything else is the lgssm's, at the network's coefficients ------------------------------------------

    def latent_noise(self, params: Params) -> Noise:
        return Noise("normal", (self.T,))

    def latent(self, params: Params, noise: jax.Array) -> jax.Array:
        return self.state_space_model().latent(self.step_coefficients(params), noise)

    def step_log_probs(self, params: Params, z: jax.Array) -> jax.Array:
        return self.state_space_model().step_log_probs(self.step_coefficients(params), z)

    def model_step_log_probs(self, params: Params, z: jax.Array) -> jax.Array:
        return self.state_space_model().model_step_log_probs(self.step_coefficients(params), z)

    def value(self, params: Params, z: jax.Array) -> jax.Array:
        return self.state_space_model().value(self.step_coefficients(params), z)

    def action_value(self, params: Params, z: jax.Array) -> jax.Array:
        return self.state_space_model().action_value(self.step_coefficients(params), z)

    def value_features(self, z: jax.Array) -> jax.Array:
        return self.state_space_model().value_features(z)

    def action_features(self, z: jax.Array) -> jax.Array:
        return self.state_space_model().action_features(z)

    def entropy(self, params: Params) -> jax.Array:
        return self.state_space_model().entropy(self.step_coefficients(params))

    def objective_exact(self, params: Params) -> jax.Array:
        return self.state_space_model().objective_exact(self.step_coefficients(params))

    def log_evidence(self, params: Params | None = None) -> jax.Array:
        """``log p(x)`` of the window by the Kalman filter (shift-invariant, so the centred lgssm's)."""
        return self.state_space_model().log_evidence()
