"""Default evaluation points are generic: no built-in problem's default param and no default-suite block's point sits
at a special value (a 0 or ±1 anywhere, or all coordinates equal), where a defect can hide (a dropped chain-rule
factor exp(log_scale) at log_scale = 0; a learned critic that looks unbiased where uniform hmm transition logits
make every state alike), unless the problem's ``special_defaults`` or this file names the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import varbench
from varbench import catalog
from varbench.core.generic import generic_defaults, is_special
from varbench.core.registry import PROBLEMS, origin
from varbench.suite import cells_of, load_config, parse_config

catalog.load_builtins()
BUILT_IN = sorted(name for name, cls in PROBLEMS.items() if origin(cls) == "built in")
#: Specs with options that add or reshape params (hidden layers, more variables, other horizons).
VARIANTS = ["bernoulli:dim=3", "categorical:dim=2,classes=4", "gaussian:dim=2", "hmm:K=2,T=3", "lgssm:T=3",
            "lqr:T=3,state_dim=1,A=[0.9],B=[1.0],init_mean=[1.0]", "nile:T=4", "sbn:hidden=3",
            "gaussian_vae:hidden=4", "linear_vae:latent=3", "logistic_regression:data_subset=8"]
CONFIGS = [Path(varbench.__file__).parent / "configs" / name for name in ("default.toml", "amortized.toml")]
#: Blocks that exist to show special points, with the reason.
SHOWS_SPECIAL_POINTS = {
    "bernoulli_toy": "sweeps the logit over [-3, 3], through the REBAR/RELAX toy's published logit 0",
    "bernoulli_toy_exact": "the same logit sweep in exact mode (DisARM's variance is exactly 0 at logit 0)",
}


def special_leaves(problem, params) -> list[str]:
    """Names of the leaves of ``params`` at special values that ``problem.special_defaults`` does not explain."""
    documented = {k for k, reason in problem.special_defaults.items() if reason.strip()}
    return sorted(k for k, v in params.items() if is_special(v) and k not in documented)


@pytest.mark.parametrize("spec", BUILT_IN + VARIANTS)
def test_default_params_are_generic(spec):
    problem = catalog.resolve_problem(spec)
    assert special_leaves(problem, problem.default_params()) == [], \
        f"{spec}: default params at 0, ±1 or all equal; move them (varbench.core.generic) or name the reason in " \
        "special_defaults"


@pytest.mark.parametrize("name", BUILT_IN)
def test_special_defaults_name_special_params_with_reasons(name):
    problem = PROBLEMS[name]()
    defaults = problem.default_params()
    for param, reason in problem.special_defaults.items():
        assert param in defaults and len(reason.strip()) > 20, (name, param)
        assert is_special(defaults[param]), f"{name}: {param} is generic; drop it from special_defaults"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_suite_block_points_are_generic(path, quick):
    flagged = []
    for block in parse_config(load_config(path), quick=quick):
        if block.name in SHOWS_SPECIAL_POINTS:
            continue
        for cell in cells_of(block):
            points = cell.points or (None,)
            for problem, point in zip(cell.problems(), points):
                params = {**problem.default_params(), **(point.params if point else {})}
                flagged += [f"{block.name}: {leaf}" for leaf in special_leaves(problem, params)]
    assert flagged == []


def test_the_check_flags_the_old_symmetric_defaults():
    """The old defaults (uniform hmm logits, lgssm's alpha all equal to the transition, the zero lqr policy, nile's
    random walk, a VAE's zero biases) are flagged, so the tests above would have failed on them."""
    hmm, lgssm = PROBLEMS["hmm"](), PROBLEMS["lgssm"]()
    assert special_leaves(hmm, {"init_logits": np.zeros(3), "transition_logits": np.zeros((3, 3, 3))}) == \
        ["init_logits", "transition_logits"]
    assert special_leaves(lgssm, {"alpha": np.full(4, 0.9), "beta": np.zeros(5), "log_scale": np.zeros(5)}) == \
        ["alpha", "beta", "log_scale"]
    assert special_leaves(PROBLEMS["nile"](), {"weights": np.array([1.0, 0.0, 0.0])}) == ["weights"]
    assert special_leaves(PROBLEMS["linear_vae"](), {"dec_log_sigma": np.zeros(())}) == ["dec_log_sigma"]
    assert special_leaves(PROBLEMS["bernoulli"](), {"logits": np.zeros(1)}) == ["logits"]


def test_generic_defaults_are_seeded_and_keep_away_from_the_base():
    base = {"a": np.zeros((2, 3)), "b": np.full(4, -1.0)}
    first, again = generic_defaults(base, 0), generic_defaults(base, 0)
    assert all(np.array_equal(first[k], again[k]) for k in base)
    for k in base:
        assert np.all((np.abs(first[k] - base[k]) >= 0.15 - 1e-12) & (np.abs(first[k] - base[k]) <= 0.45 + 1e-12))
        assert not is_special(first[k])
    assert not np.array_equal(generic_defaults(base, 1)["a"], first["a"])
    kept = generic_defaults({"w": np.array([0.3, -0.7])}, 0, only_special=True)
    assert np.array_equal(kept["w"], [0.3, -0.7])
