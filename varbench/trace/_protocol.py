"""The discrete-VAE papers' training metrics of a trace: their moving-average variance and the training objective.

**The papers' variance figure.** The discrete-VAE papers plot the encoder-gradient variance along training from
moving averages of the *training* estimator's own gradient. DisARM's released code (Dong, Mnih & Tucker 2020;
google-research ``disarm/binary``) applies ``tf.train.ExponentialMovingAverage(0.999)`` to the encoder gradient g
and to g² after every step and reports the mean over encoder coordinates of ``EMA(g²) − EMA(g)²``
(``DiscreteVAE.compute_grad_variance`` in its ``networks.py``). TensorFlow's averages of ``tf.Variable`` objects start
from the variable's value when the average is created (the zeros the code initialises them with), decay at the
constant rate (no ``num_updates``) and are not bias-corrected (``zero_debias`` applies to tensors only), so this is
what :func:`ema_update` and :func:`ema_variance` compute: both averages start at zero, ``m ← decay·m + (1 −
decay)·g``, no correction. The figure at checkpoint t averages the t estimates that moved the params there (DisARM
logs after the update of step t, one estimate more); it is 0 at step 0 and biased low for the first ~1/(1 − decay)
steps, and it mixes the estimator's noise with the drift of the params over the averaging window, which is why a
trace also measures the variance at frozen params. DisARM divides by batch_size² because its encoder gradient is
summed over the minibatch; varbench's amortized costs are minibatch means already, so no factor is applied. The
papers draw its log; the value here is not logged.

**The training objective.** At each checkpoint ``E[cost]`` is estimated by ``objective_samples`` independent draws
of the problem's own ``latent_noise``/``latent``/``cost`` (one minibatch and its latents per draw), with the standard
error of that mean; for an amortized VAE the cost is a negative bound, so ``elbo = −objective_mc``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.noise import sample_noise
from varbench.engine import compile_tier

#: Draws per step of the chunked map over the objective's draws (bounds memory: a draw of a 784-pixel, batch-100
#: problem holds ~10⁵ floats).
OBJECTIVE_CHUNK = 100
#: ``fold_in`` tag of the objective's key stream: independent of the optimisation (``split(key(seed))[0]``) and of
#: the learners' initial states (``split(key(seed))[1]``), which existing traces keep unchanged.
OBJECTIVE_STREAM = 0x6F626A  # "obj"


def ema_names(problem: Any, groups: Mapping[str, Sequence[str]] | None) -> list[str]:
    """The params whose gradient the papers' variance figure averages.

    Args:
      problem: a problem object.
      groups: its parameter groups (:func:`varbench.trace.param_groups`), or None.

    Returns:
      The ``"encoder"`` group's names when the problem has that group (an amortized problem: the papers track the
      encoder, whose gradient is the noisy one), else every param.
    """
    if groups and groups.get("encoder"):
        return list(groups["encoder"])
    return list(problem.param_shapes())


def init_ema(theta: Mapping[str, Any], names: Sequence[str]) -> dict[str, tuple[jax.Array, jax.Array]]:
    """``{name: (EMA of g, EMA of g²)}``, both zero, for ``names`` (as TensorFlow's averages of zeroed variables)."""
    return {n: (jnp.zeros_like(theta[n]), jnp.zeros_like(theta[n])) for n in names}


def ema_update(ema: Mapping[str, tuple[jax.Array, jax.Array]], grad: Mapping[str, jax.Array],
               decay: jax.Array) -> dict[str, tuple[jax.Array, jax.Array]]:
    """One step of both averages (traceable: it runs inside the jitted training step).

    Args:
      ema: the averages.
      grad: the driver's estimate at this step.
      decay: the decay rate.

    Returns:
      ``m ← decay·m + (1 − decay)·g`` and ``s ← decay·s + (1 − decay)·g²`` per tracked param.
    """
    return {n: (decay * m + (1 - decay) * grad[n], decay * s + (1 - decay) * jnp.square(grad[n]))
            for n, (m, s) in ema.items()}


def ema_variance(ema: Mapping[str, tuple[Any, Any]]) -> float:
    """The papers' variance figure: the mean over the tracked coordinates of ``EMA(g²) − EMA(g)²``.

    Args:
      ema: the averages (arrays).

    Returns:
      The mean, computed in float64 from the stored averages.
    """
    m = np.concatenate([np.ravel(np.asarray(a, np.float64)) for a, _ in ema.values()])
    s = np.concatenate([np.ravel(np.asarray(b, np.float64)) for _, b in ema.values()])
    return float(np.mean(s - m * m))


def objective_key(seed: int) -> jax.Array:
    """The key stream of the objective's draws; checkpoint t uses ``fold_in(objective_key(seed), t)``."""
    return jax.random.fold_in(jax.random.key(seed), OBJECTIVE_STREAM)


def objective_mc(problem: Any, params: Mapping[str, np.ndarray], num: int, key: jax.Array) -> tuple[float, float]:
    """A Monte Carlo estimate of the objective ``E[cost]`` at ``params`` and its standard error.

    Args:
      problem: the problem.
      params: the checkpoint's params.
      num: independent draws (>= 1).
      key: the checkpoint's key.

    Returns:
      ``(mean, stderr)``: the mean of ``num`` costs, each at its own draw of ``latent_noise``, and
      ``std(ddof=1) / √num`` (NaN for one draw), both computed in float64.
    """
    theta = {k: jnp.asarray(v) for k, v in params.items()}
    costs = np.asarray(_costs(problem, theta, jax.random.split(key, num)), np.float64)
    stderr = float(np.std(costs, ddof=1) / np.sqrt(num)) if num > 1 else float("nan")
    return float(np.mean(costs)), stderr


@compile_tier.jit
def _costs(problem, theta, keys):
    """The cost at one draw of the problem's latent per key, mapped in chunks; the problem is an argument, not
    closed over, so every trace of an equal problem reuses the compiled function."""
    dtype = jnp.result_type(*theta.values())
    noise = problem.latent_noise(theta)

    def one(key):
        return problem.cost(theta, problem.latent(theta, sample_noise(noise, key, dtype)))

    return jax.lax.map(one, keys, batch_size=min(OBJECTIVE_CHUNK, keys.shape[0]))
