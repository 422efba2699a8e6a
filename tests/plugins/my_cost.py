"""A plugin that adds a Gaussian problem with the user's own cost (imports only varbench's public names)."""

import jax.numpy as jnp

import varbench


def log_abs(x):
    """log|x| summed over coordinates (a peer's test cost; singular at 0, so pathwise has heavy tails)."""
    return jnp.sum(jnp.log(jnp.abs(x)))


varbench.problems.gaussian_with_cost(log_abs, dim=1, name="log_abs_gaussian")
