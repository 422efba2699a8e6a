"""Hostile VALUES (beyond float32, NaN in a params file, arrays that declare 10^12 numbers, nesting thousands deep)
are refused before any work: exit status 2, one line naming the value's owner, no NumPy warning, nothing created.

The same checks serve ``run``, ``check``, ``trace`` and a suite's config validation (option values in
:mod:`varbench.core.options`, spec text in :mod:`varbench.spec`, params in :mod:`varbench.engine.params`, params
files in :mod:`varbench.core.params_file`). A value the checks let through but that makes the PROBLEM overflow is
blamed on the problem, not on the estimator. Hypothesis fuzzes params files and JSON values: each is accepted or
refused with a one-line :class:`VarbenchError`, never another exception.
"""

import io
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

import varbench
from varbench.cli import main
from varbench.core.errors import NonFiniteEstimateError, VarbenchError
from varbench.core.options import FLOAT32_MAX, MAX_NESTING, nesting_depth
from varbench.core.params_file import load_params_file
from varbench.engine._assemble import exact_stats
from varbench.engine.exact import ExactMoments
from varbench.engine.params import prepare_params
from varbench.engine.subject import Subject
from varbench.spec import parse_value

VAE_SHAPES = varbench.catalog.resolve_problem("linear_vae").param_shapes()
DEEP = "[" * 3000 + "1" + "]" * 3000          # beyond Python's recursion limit in any recursive parser
DEEPISH = "[" * 40 + "1" + "]" * 40           # parseable, but deeper than any parameter has axes
RUN = ["run", "--estimator", "pathwise", "--num-samples", "256", "--problem"]


def _write_npz(path: Path, members: dict[str, bytes | np.ndarray]) -> None:
    """An .npz whose members are arrays or raw .npy bytes (a header may declare any shape)."""
    with zipfile.ZipFile(path, "w") as archive:
        for key, value in members.items():
            if isinstance(value, np.ndarray):
                buffer = io.BytesIO()
                np.save(buffer, value)
                value = buffer.getvalue()
            archive.writestr(f"{key}.npy", value)


def _header(shape: tuple, descr: str = "<f4") -> bytes:
    """A bare .npy header declaring ``shape`` (no data follows)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _vae_params(**changes: np.ndarray) -> dict[str, np.ndarray]:
    return {**{k: np.zeros(s) for k, s in VAE_SHAPES.items()}, **changes}


def _block(problem: str, grid: str = "") -> str:
    return (f'[[block]]\nname = "a"\nproblem = "{problem}"\nestimators = ["pathwise"]\nnum_samples = 256\n'
            + (f"grid = {{ {grid} }}\n" if grid else ""))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """The hostile files the cases name as {tmp}/..."""
    tmp = tmp_path_factory.mktemp("hostile")
    big = _vae_params(enc_weight=np.full(VAE_SHAPES["enc_weight"], 1e300))
    np.savez(tmp / "huge_value.npz", **big)
    np.savez(tmp / "nan.npz", **_vae_params(dec_log_sigma=np.array(np.nan)))
    _write_npz(tmp / "huge_header.npz", {**_vae_params(), "enc_bias": _header((10 ** 12,))})
    (tmp / "huge_header.npy").write_bytes(_header((10 ** 12,)))
    configs = {"deep": _block("gaussian", f"mean = {DEEP}"), "deepish": _block("gaussian", f"mean = {DEEPISH}"),
               "k_overflow": _block("gaussian", "k = [1.0, 1e39]"),
               "transition": _block("lgssm", "transition = [0.5, 1e20]"),
               "params_file": _block(f"linear_vae:params_file={tmp / 'huge_value.npz'}")}
    for name, text in configs.items():
        (tmp / f"{name}.toml").write_text(text)
    return tmp


SUITE = ["suite", "--out", "{tmp}/out", "--config"]
CASES = [
    # (id, argv with {tmp}, fragment of the one-line message)
    ("option beyond float32", [*RUN, "gaussian:k=1e39"], "option 'k' of problem 'gaussian' must be a number, and "
                                                         "finite in float32"),
    ("list option beyond float32", [*RUN, "gaussian:weights=[1,-1e39],dim=2"], "all finite in float32"),
    ("lgssm explosive transition", [*RUN, "lgssm:transition=1e20"], "'transition' of problem 'lgssm' must be from "
                                                                    "-1 to 1"),
    ("params file 1e300", [*RUN, "linear_vae:params_file={tmp}/huge_value.npz"], "'enc_weight' holds 1e+300 at "
                                                                                  "index (0, 0)"),
    ("params file NaN", [*RUN, "linear_vae:params_file={tmp}/nan.npz"], "'dec_log_sigma' holds nan; params must"),
    ("npz header of 1e12 floats", [*RUN, "linear_vae:params_file={tmp}/huge_header.npz"],
     "'enc_bias' has shape (1000000000000,), expected (2,)"),
    ("npy header of 1e12 floats", [*RUN, "linear_vae:params_file={tmp}/huge_header.npy"], "is a single array"),
    ("spec nested 3000 deep", [*RUN, f"gaussian:weights={DEEP}"], f"nests brackets more than {MAX_NESTING} deep"),
    ("param nested 3000 deep", [*RUN, "gaussian", "--param", f"mean={DEEP}"], "the value of 'mean' nests"),
    ("trace param nested", ["trace", "--problem", "gaussian", "--estimator", "pathwise", "--param", f"mean={DEEP}"],
     "the value of 'mean' nests"),
    ("check option beyond float32", ["check", "pathwise", "--problems", "gaussian:k=-1e39"], "finite in float32"),
    ("suite TOML nested 3000 deep", [*SUITE, "{tmp}/deep.toml"], "nests arrays or tables more than"),
    ("suite TOML nested 40 deep", [*SUITE, "{tmp}/deepish.toml"], "nests lists or tables more than"),
    ("suite grid option beyond float32", [*SUITE, "{tmp}/k_overflow.toml"], "block 'a': option 'k'"),
    ("suite grid explosive transition", [*SUITE, "{tmp}/transition.toml"], "block 'a': option 'transition'"),
    ("suite params file 1e300", [*SUITE, "{tmp}/params_file.toml"], "block 'a': params_file"),
    # finite and representable, but the problem's cost (x - 1e30)^2 overflows float32: the problem is at fault
    ("problem overflows", ["run", "--problem", "gaussian:k=1e30", "--estimator", "score_function", "--num-samples",
                           "256"],
     "problem 'gaussian:cost=square,k=1e+30,dim=1' is not finite in float32 at these params (its cost at a draw"),
]


def _tree(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("argv, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_values_are_one_line_exit_2_and_create_nothing(files, capsys, monkeypatch, argv, fragment):
    monkeypatch.chdir(files)
    argv = [a.replace("{tmp}", str(files)) for a in argv]
    before = _tree(files)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("varbench: error: "), err
    assert "Traceback" not in err and "internal error" not in err and "fault of the estimator" not in err
    assert fragment in err, err
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    assert _tree(files) == before, "a refused command created or changed files"


def test_exact_mode_blames_the_problem_when_its_values_overflow_float64():
    # exp(400)^2 overflows float64: the cost and the exact objective are inf, whatever the estimator does. (Moments
    # made up: the quadrature itself is tested in tests/varbench/test_exact.py.)
    problem, estimator = varbench.catalog.resolve_problem("gaussian"), varbench.catalog.resolve_estimator("pathwise")
    moments = ExactMoments(mean={"mean": np.array([np.inf]), "log_scale": np.array([1.0])},
                           variance={"mean": np.array([1.0]), "log_scale": np.array([1.0])}, num_points=1,
                           discrepancy=0.0, compile_seconds=0.0)
    at = lambda log_scale: Subject(problem, estimator, {"mean": np.zeros(1), "log_scale": np.full(1, log_scale)})
    with pytest.raises(NonFiniteEstimateError, match="problem 'gaussian:cost=square,k=1,dim=1' is not finite in "
                                                     "float64 at these params .its cost at a draw from q and exact "
                                                     "objective are NaN/inf., so estimator 'pathwise' has no"):
        exact_stats(moments, estimator, at(400.0))
    with pytest.raises(NonFiniteEstimateError, match="^estimator 'pathwise': the exact mean"):  # the problem is fine
        exact_stats(moments, estimator, at(0.0))


def test_values_at_the_limits_are_accepted(tmp_path):
    # The checks refuse only what cannot be measured: float32's largest number, a random walk, a file of finite
    # float64 values within float32's range, lists nested exactly MAX_NESTING deep (parsed, then shaped).
    problem = varbench.catalog.resolve_problem(f"gaussian:k={FLOAT32_MAX!r},weights=[{-FLOAT32_MAX!r}]")
    assert problem.k == FLOAT32_MAX
    assert varbench.catalog.resolve_problem("lgssm:transition=-1").transition == -1.0
    np.savez(tmp_path / "p.npz", **_vae_params(dec_bias=np.full(VAE_SHAPES["dec_bias"], -3e38)))
    loaded = load_params_file(str(tmp_path / "p.npz"), VAE_SHAPES)
    assert loaded["dec_bias"].dtype == np.float32 and np.all(np.isfinite(loaded["dec_bias"]))
    nested = parse_value("[" * MAX_NESTING + "2" + "]" * MAX_NESTING)
    assert nesting_depth(nested) == MAX_NESTING
    with pytest.raises(VarbenchError, match="has shape"):  # a value that deep is not the shape of 'mean'
        prepare_params(varbench.catalog.resolve_problem("gaussian"), {"mean": nested})
    assert parse_value('["[[[[", 1]') == ["[[[[", 1]  # brackets inside JSON strings are not nesting


def test_python_api_refuses_deep_values_in_one_line(tmp_path):
    deep: list = [1.0]
    for _ in range(3000):
        deep = [deep]
    with pytest.raises(VarbenchError, match="parameter 'mean' nests lists") as info:
        prepare_params(varbench.catalog.resolve_problem("gaussian"), {"mean": deep})
    assert "\n" not in str(info.value)
    with pytest.raises(VarbenchError, match="option 'weights' of problem 'gaussian' nests lists"):
        varbench.catalog.build(varbench.catalog.PROBLEMS, "problem", "gaussian", {"weights": deep})
    with pytest.raises(VarbenchError, match="the suite config nests lists"):
        varbench.suite.run_suite({"block": [{"name": "a", "grid": {"mean": deep}}]}, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- fuzzing: params files and JSON values are accepted or refused in one line ----------------------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
SHAPES = {"w": (2, 3), "b": (3,), "s": ()}
hostile_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e300, -1e39, 3.4e38]))
shapes = st.one_of(st.sampled_from(list(SHAPES.values())), st.lists(st.integers(0, 4), max_size=3).map(tuple),
                   st.sampled_from([(10 ** 12,), (2 ** 40, 2 ** 20), (2, 10 ** 15)]))
dtypes = st.sampled_from(["<f4", "<f8", "<f2", "<i8", "|u1", "|b1", "<c8", "|O", "<U3", "<V8"])


@st.composite
def members(draw) -> bytes | np.ndarray:
    """One member of an .npz: a real array (any shape, dtype, hostile values) or a bare header (any shape)."""
    shape = draw(shapes)
    if draw(st.booleans()) or np.prod(shape, dtype=float) > 10 ** 4:  # big declarations are headers only
        return _header(shape, draw(dtypes))
    values = draw(st.lists(hostile_floats, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    with np.errstate(all="ignore"):  # the hostile values as float32, float16 (inf) or integers (garbage)
        return np.array(values, "f8").reshape(shape).astype(draw(st.sampled_from(["f4", "f8", "f2", "i8"])))


@FUZZ
@given(content=st.dictionaries(st.sampled_from([*SHAPES, "x"]), members(), max_size=4),
       garble=st.one_of(st.none(), st.integers(0, 400)))
def test_fuzzed_params_files_are_accepted_or_refused_in_one_line(content, garble):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "p.npz")
        _write_npz(Path(path), content)
        if garble is not None:  # cut the archive short: a corrupt member or directory
            data = Path(path).read_bytes()
            Path(path).write_bytes(data[:garble])
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no NumPy overflow warning on the way
            try:
                loaded = load_params_file(path, SHAPES)
            except VarbenchError as err:
                assert "\n" not in str(err) and str(err)
                return
    assert {k: v.shape for k, v in loaded.items()} == SHAPES
    assert all(v.dtype == np.float32 and np.all(np.isfinite(v)) for v in loaded.values())


@FUZZ
@given(shape=shapes, descr=dtypes)
def test_a_single_npy_file_is_refused_from_its_header(shape, descr):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "p.npz")
        Path(path).write_bytes(_header(shape, descr))
        with pytest.raises(VarbenchError, match="is a single array"):
            load_params_file(path, SHAPES)


json_leaves = st.one_of(hostile_floats, st.integers(-(10 ** 40), 10 ** 40), st.booleans(), st.none(),
                        st.text(alphabet="[]{}\"\\ab,", max_size=4))


@FUZZ
@given(leaves=st.lists(json_leaves, min_size=1, max_size=3), depth=st.one_of(st.integers(0, 40),
                                                                             st.integers(900, 3000)))
def test_fuzzed_json_values_are_accepted_or_refused_in_one_line(leaves, depth):
    text = "[" * depth + json.dumps(leaves) + "]" * depth
    problem = varbench.catalog.resolve_problem("gaussian:dim=2")
    try:
        params = prepare_params(problem, {"mean": parse_value(text, "the value of 'mean'")})
    except VarbenchError as err:
        assert "\n" not in str(err) and str(err)
        return
    assert params["mean"].shape == (2,) and np.all(np.abs(params["mean"]) <= FLOAT32_MAX)
