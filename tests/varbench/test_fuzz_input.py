"""Fuzzing of what people type: SPEC strings and ``--param`` values never cause an internal error.

Every input is either accepted or refused with a :class:`VarbenchError` whose message is one line. The spec fuzz
stops before any kernel runs (parsing, option checks, construction, applicability, the params the run would
use); the ``--param`` fuzz runs the real CLI on one small problem, whose kernel compiles once and is then reused.
Hypothesis shrinks any failure to a minimal input.
"""

import contextlib
import io
import json

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from varbench import catalog  # noqa: E402
from varbench.cli import main  # noqa: E402
from varbench.core.errors import VarbenchError  # noqa: E402
from varbench.core.pytree import options_of  # noqa: E402
from varbench.engine.params import prepare_params  # noqa: E402
from varbench.spec import parse_value  # noqa: E402

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

catalog.load_builtins()
PUNCTUATION = ",=:[]{}()\"' .-+eE"

# Values as people (and typos) write them: numbers of every size, JSON constants, lists (ragged, nested, empty),
# option choices, and arbitrary text with the characters that structure a spec. Sizes are either small or far
# beyond any machine, so that an accepted spec never allocates much while the fuzz runs.
numbers_ = st.one_of(st.integers(-3, 64), st.integers(10 ** 13, 10 ** 40), st.integers(-(10 ** 40), -(10 ** 13)),
                     st.floats(allow_nan=True, allow_infinity=True))
json_values = st.recursive(st.one_of(numbers_, st.booleans(), st.none(), st.text(max_size=5)),
                           lambda inner: st.lists(inner, max_size=3), max_leaves=6)
value_texts = st.one_of(json_values.map(lambda v: json.dumps(v)),
                        st.sampled_from(["square", "cos", "optimal", "analytic", "NaN", "-Infinity", "1e400", "٣",
                                         "true", "[1,", "]", "{\"a\":1}", "", "1_0", "0x10", "١٢"]),
                        st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(
                            PUNCTUATION), max_size=12))


def _specs(registry: dict) -> st.SearchStrategy:
    """``name[:key=value,...]`` with the class's own option keys (mostly), or unstructured text."""
    def with_options(name: str) -> st.SearchStrategy:
        own = sorted(options_of(registry[name]))
        keys = st.one_of(st.sampled_from(own), st.text(max_size=6)) if own else st.text(max_size=6)
        options = st.lists(st.tuples(keys, value_texts).map(lambda kv: f"{kv[0]}={kv[1]}"), max_size=4)
        return st.tuples(st.booleans(), options).map(lambda t: name + (":" if t[0] or t[1] else "") + ",".join(t[1]))
    return st.one_of(st.sampled_from(sorted(registry)).flatmap(with_options), st.text(max_size=30),
                     st.text(alphabet=st.sampled_from(PUNCTUATION + "abcgsu01"), max_size=30))


problem_specs, estimator_specs = _specs(catalog.PROBLEMS), _specs(catalog.ESTIMATORS)


def _one_line(err: BaseException) -> None:
    assert isinstance(err, VarbenchError), f"internal error {type(err).__name__}: {err}"
    assert "\n" not in str(err) and str(err)


@FUZZ
@given(problem_spec=problem_specs, estimator_spec=estimator_specs)
def test_specs_are_accepted_or_refused_in_one_line(problem_spec, estimator_spec):
    try:
        problem = catalog.resolve_problem(problem_spec)
        estimator = catalog.resolve_estimator(estimator_spec)
        estimator.check_applies(problem)
        prepare_params(problem, None)  # the params the run would measure at (sizes checked before allocating)
    except Exception as err:  # noqa: BLE001 - the assertion names any non-VarbenchError
        _one_line(err)


@FUZZ
@given(value=value_texts, name=st.sampled_from(["mean", "log_scale", "logits", "x"]))
def test_param_values_are_accepted_or_refused_in_one_line(value, name):
    problem = catalog.resolve_problem("gaussian:dim=2")
    try:
        prepare_params(problem, {name: parse_value(value)})
        prepare_params(problem, {name: parse_value(value)}, dtype="float64")  # exact mode's precision
    except Exception as err:  # noqa: BLE001
        _one_line(err)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(params=st.lists(st.tuples(st.sampled_from(["mean", "log_scale", "mean "]), value_texts), max_size=3))
def test_cli_run_with_fuzzed_params_never_fails_internally(params):
    argv = ["run", "--problem", "gaussian:dim=2", "--estimator", "pathwise", "--num-samples", "256", "--format", "json"]
    for name, value in params:
        argv += ["--param", f"{name}={value}"]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    err = stderr.getvalue()
    assert rc in (0, 2) and "internal error" not in err and "Traceback" not in err, err
    assert rc == 0 or (err.count("\n") == 1 and err.startswith("varbench: error: ")), err
