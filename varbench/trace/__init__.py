"""Variance along an optimisation: train params with one estimator, measure several at the SAME params.

Measuring each estimator along its own training run mixes estimator noise with parameter drift (a moving average
of squared gradients along training is not a variance). ``trace`` instead optimises the params with one *driver*
estimator and Adam, and every ``every`` steps (:class:`TraceSettings`) freezes everything and measures each listed
estimator at exactly those params with :func:`varbench.measure`. Stateful estimators (EMA baselines, REBAR with
``tune=variance``, RELAX's control-variate network) are trained along the way — one
:meth:`~varbench.Estimator.update` per optimisation step at the current params, as in Grathwohl et al. (2018),
Algorithm 1 — and measured with their state frozen.

The whole trace is a pure function of ``seed``: optimisation step t uses ``fold_in(split(key(seed))[0], t)`` and the
measurement at step t uses seed ``seed + 1 + t``, so a trace can be recomputed (or resumed) exactly.

Problems that split their params into groups (``param_groups()``: an amortized problem's ``"encoder"`` and
``"decoder"``) also get the variance per group, because in a VAE the encoder's gradient is the noisy one and a total
hides which part of the model an estimator helps.

``save_params=DIR`` writes the params of every checkpoint to ``DIR/step_{t:06d}.npz`` (an ``.npz`` keyed by
parameter name, written atomically) *before* measuring there, so a long trace never loses the points it has reached,
and a checkpoint can be measured again later at any precision. Amortized problems read such a file with their
``params_file`` option (:func:`params_file_spec` builds that spec); other problems have no such option, so pass the
values with ``params=`` / ``--param NAME=VALUE``. Only the params are saved, not the state of stateful estimators
(baselines, control variates): measuring a stateless estimator at a saved point with the checkpoint's seed and
sample count reproduces the trace's record exactly; a stateful one starts from a fresh state (use ``warmup``). In
Python, loop over checkpoints with ``params=dict(np.load(path))`` on one problem: ``params_file`` is a static option,
so every distinct file name compiles a new kernel.

Every record also carries the training metrics of the discrete-VAE papers (:mod:`varbench.trace._protocol`): the
driver's moving-average variance ``paper_ema_variance`` (on the driver's own record) and a Monte Carlo estimate of
the objective at each checkpoint (``objective_mc``, and ``elbo`` for the amortized VAEs).

The settings and their defaults load without JAX (the CLI builds its parser from them); the rest loads JAX and optax
on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from varbench.trace._settings import TraceSettings

__all__ = ["MeasureTask", "TraceSettings", "checkpoint_path", "measure_task", "param_groups", "params_file_spec",
           "save_checkpoint", "trace"]

#: public name -> the private module that defines it (imported on first use)
_LAZY = {"MeasureTask": "_run", "measure_task": "_run", "param_groups": "_run", "trace": "_run",
         "checkpoint_path": "_checkpoints", "params_file_spec": "_checkpoints", "save_checkpoint": "_checkpoints"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'varbench.trace' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"varbench.trace.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
