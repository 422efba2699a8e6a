"""The suite config's schema: every table refuses unknown keys and wrong types in one line naming the key and where
it is, and what the report will draw (figure keys, title mathtext, block names) or what a block can measure is
checked before any cell runs and before the store exists."""

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from varbench.cli import main  # noqa: E402
from varbench.core.errors import VarbenchError  # noqa: E402
from varbench.reports._contents import FigureKind  # noqa: E402
from varbench.suite import parse_config, validate_cells  # noqa: E402
from varbench.suite._schema import FIGURE_KINDS, SCHEMA, TYPES, config_schema  # noqa: E402


def _block(**keys):
    return {"name": "g", "problem": "gaussian:dim=1", "estimators": ["pathwise"], "num_samples": 1000, **keys}


GRID = {"k": [1.0, 2.0]}
CASES = [
    ("misspelt quick key", [_block(quick={"sample": 500})],
     "block 'g': quick: unknown key 'sample'; valid keys: title, "),
    ("quick key suggestion", [_block(quick={"sample": 500})], "did you mean 'num_samples'?"),
    ("quick not a table", [_block(quick=5)], "block 'g': 'quick' must be a table; got 5"),
    ("figure kind typo", [_block(grid=GRID, figure={"kind": "varaince_vs", "x": "k"})],
     "block 'g': figure: unknown figure kind 'varaince_vs'; valid: variance_vs, "),
    ("figure key typo", [_block(figure={"nte": "x"})],
     "block 'g': figure: unknown key 'nte'; valid keys: kind, x, "),
    ("figure key in quick", [_block(quick={"figure": {"kidn": "trace"}})],
     "block 'g': quick: figure: unknown key 'kidn'; valid keys: kind, "),
    ("figure x no grid axis", [_block(grid=GRID, figure={"kind": "variance_vs", "x": "mu"})],
     "block 'g': figure: x = 'mu' names no grid axis of the block; valid: k"),
    ("figure col no grid axis", [_block(grid=GRID, figure={"kind": "variance_vs", "x": "k", "col": "cots"})],
     "col = 'cots' names no grid axis"),
    ("figure x without a grid", [_block(figure={"kind": "variance_vs", "x": "k"})], "the block has none"),
    ("model_bias without x", [_block(grid=GRID, figure={"kind": "model_bias", "line": "k"})],
     "block 'g': figure: a model_bias figure needs 'x'"),
    ("model_bias x not an option", [_block(grid=GRID, figure={"kind": "model_bias", "x": "nope", "line": "k"})],
     "x = 'nope' names no option of the block's estimators"),
    ("series x not a column", [_block(grid=GRID, figure={"kind": "series", "x": "k"})],
     "x = 'k' names no column of the block's rows; valid: estimator_name, estimator_label, method, grid_k"),
    ("trace figure of a grid", [_block(figure={"kind": "trace"})], "a trace figure draws a trace block's rows"),
    ("figure groups a number", [_block(figure={"groups": 1})], "figure: 'groups' must be true or false; got 1"),
    ("broken title mathtext", [_block(title="bad $\\frac{1}{$ math")],
     "block 'g': 'title' has $...$ mathtext that matplotlib cannot parse"),
    ("broken quick title", [_block(quick={"title": "$\\undefinedmacro$"})], "Unknown symbol"),
    ("300-character name", [_block(name="a" * 300)], "every block needs a name of at most 100 letters"),
    ("name with a tab", [_block(name="a\tb")], "every block needs a name of at most 100"),
    ("top-level typo", {"blocks": [_block()]}, "unknown top-level key 'blocks'; valid keys: plugins, executor, "
                                               "block; did you mean 'block'?"),
    ("executor workers a string", {"block": [_block()], "executor": {"kind": "dask", "workers": "4"}},
     "suite config: executor: 'workers' must be an integer; got '4'"),
    ("range key typo", [_block(grid={"k": {"start": 0.1, "stop": 1.0, "nmu": 3}})],
     "block 'g': grid axis 'k': unknown key 'nmu'; valid keys: start, stop, num, log; did you mean 'num'?"),
    ("range in quick", [_block(grid=GRID, quick={"grid": {"k": {"start": 0.1, "stop": 1.0}}})],
     "block 'g': quick: grid axis 'k': missing key 'num'"),
    ("trace steps a string", [_block(kind="trace", trace={"drivers": ["pathwise"], "steps": "10"})],
     "block 'g': trace: 'steps' must be an integer; got '10'"),
    ("problem missing", [{"name": "g", "estimators": ["pathwise"]}], "block 'g': missing key 'problem'"),
    ("a block that --quick skips", [_block(), _block(name="h", quick={"skip": True}, wramup=3)],
     "block 'h': unknown key 'wramup'"),
    ("exact block measuring nothing", [_block(), _block(name="e", problem="gaussian:dim=10", method="exact",
                                                        estimators=["pathwise", "score_function"])],
     "block 'e': measures nothing: no estimator applies to its problem in exact mode (e.g. e · pathwise · seed 0: "
     "method=exact integrates at most 5"),
    ("block measuring nothing", [_block(), _block(name="b", problem="bernoulli")],
     "block 'b': measures nothing: no estimator applies to its problem (e.g. b · pathwise"),
]


@pytest.mark.parametrize("raw, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_configs_are_refused_in_one_line_before_anything_runs(raw, fragment):
    raw = {"block": raw} if isinstance(raw, list) else raw
    with pytest.raises(VarbenchError) as caught:
        validate_cells(parse_config(raw, quick=True))
    message = str(caught.value)
    assert fragment in message and "\n" not in message, message


CLI_CASES = {
    "quick_number": '[[block]]\nname = "g"\nproblem = "gaussian"\nestimators = ["pathwise"]\nquick = 5\n',
    "figure_x": '[[block]]\nname = "g"\nproblem = "gaussian"\nestimators = ["pathwise"]\ngrid = { k = [1.0] }\n'
                'figure = { kind = "variance_vs", x = "mu" }\n',
    "title": '[[block]]\nname = "g"\nproblem = "gaussian"\nestimators = ["pathwise"]\ntitle = "$\\\\frac{1}{$"\n',
    "long_name": f'[[block]]\nname = "{"a" * 300}"\nproblem = "gaussian"\nestimators = ["pathwise"]\n',
    "exact": '[[block]]\nname = "g"\nproblem = "gaussian"\nestimators = ["pathwise"]\nnum_samples = 100\n'
             '[[block]]\nname = "e"\nproblem = "gaussian:dim=10"\nestimators = ["pathwise"]\nmethod = "exact"\n',
}


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_the_cli_refuses_before_creating_the_store(tmp_path, capsys, name):
    config = tmp_path / "c.toml"
    config.write_text(CLI_CASES[name])
    assert main(["suite", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("varbench: error: ") and err.count("\n") == 1 and "internal error" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"], "a refused suite created files"


def test_the_schema_is_public_typed_and_matches_the_report():
    schema = config_schema()
    assert set(schema) == {"config", "executor", "block", "quick", "figure", "trace", "range"}
    schema["block"].clear()
    assert SCHEMA["block"], "config_schema returns a copy"
    for table, fields in SCHEMA.items():
        for key, field in fields.items():
            assert field.type in TYPES and field.doc and "\n" not in field.doc, (table, key)
            assert field.table is None or field.table in SCHEMA, (table, key)
    assert set(FIGURE_KINDS) == {kind.value for kind in FigureKind}
    assert set(SCHEMA["quick"]) == (set(SCHEMA["block"]) - {"name", "quick"}) | {"skip"}


# --- random configs built from the schema ----------------------------------------------------------------------

GRIDS = st.fixed_dictionaries({}, optional={
    "k": st.one_of(st.lists(st.sampled_from([0.5, 1.0, 2.0]), min_size=1, unique=True),
                   st.fixed_dictionaries({"start": st.just(0.1), "stop": st.just(2.0), "num": st.integers(1, 4)},
                                         optional={"log": st.booleans()})),
    "cost": st.just(["square", "cos"])})


def _figure(block):
    plain = st.fixed_dictionaries({}, optional={"note": st.text(max_size=8), "groups": st.booleans()})
    if "k" in block.get("grid", {}):
        return st.one_of(plain, st.fixed_dictionaries({"kind": st.just("variance_vs"), "x": st.just("k")}))
    return plain


#: A valid value for every key of the schema: a strategy, or a function of the keys drawn before it (in schema
#: order) returning one. Keys of the quick table that would change what the block is are left out (None).
VALID = {
    ("config", "plugins"): st.just([]),
    ("config", "executor"): "executor",
    ("config", "block"): "block",
    ("executor", "kind"): st.sampled_from(["local", "dask"]),
    ("executor", "workers"): st.integers(1, 8),
    ("executor", "scheduler"): st.just("tcp://127.0.0.1:8786"),
    ("block", "name"): st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True),
    ("block", "title"): st.sampled_from(["A sweep", "costs $5", r"variance of $\hat g$ vs $k$"]),
    ("block", "kind"): st.just("measure"),  # trace blocks: see _trace_block
    ("block", "problem"): st.sampled_from(["gaussian", "gaussian:dim=1"]),
    ("block", "estimators"): st.lists(st.sampled_from(["pathwise", "score_function", "measure_valued"]),
                                      min_size=1, max_size=3, unique=True),
    ("block", "grid"): GRIDS,
    ("block", "method"): st.sampled_from(["mc", "exact"]),
    ("block", "num_samples"): st.integers(1, 10 ** 6),
    ("block", "seeds"): st.lists(st.integers(0, 99), min_size=1, max_size=3, unique=True),
    ("block", "warmup"): st.integers(0, 10),
    ("block", "reference"): lambda block: st.sampled_from(block["estimators"]),
    ("block", "quick"): "quick",
    ("block", "figure"): _figure,
    ("block", "trace"): None,
    **{("quick", key): None for key in ("kind", "problem", "estimators", "grid", "method", "reference", "figure",
                                        "trace")},
    ("quick", "title"): st.just("quick"),
    ("quick", "num_samples"): st.integers(1, 1000),
    ("quick", "seeds"): st.lists(st.integers(0, 9), min_size=1, max_size=2, unique=True),
    ("quick", "warmup"): st.integers(0, 3),
    ("quick", "skip"): st.booleans(),
    **{("figure", key): None for key in SCHEMA["figure"]},  # drawn whole by _figure
    ("trace", "drivers"): st.just(["pathwise"]),
    ("trace", "lr"): st.floats(0.001, 0.1),
    ("trace", "steps"): st.integers(0, 6),
    ("trace", "every"): st.integers(1, 3),
    ("trace", "ema_decay"): st.floats(0.5, 0.9999),
    ("trace", "objective_samples"): st.integers(0, 20),
    **{("range", key): None for key in SCHEMA["range"]},  # drawn whole by GRIDS
}


@st.composite
def tables(draw, schema):
    """A valid table of ``SCHEMA[schema]``: its required keys and some of its optional ones."""
    out = {}
    for key, field in SCHEMA[schema].items():
        make = VALID[(schema, key)]
        if make is None or not (field.required or draw(st.booleans())):
            continue
        make = make(out) if callable(make) else make
        if isinstance(make, str):  # a table, or the blocks
            make = st.lists(tables("block"), min_size=1, max_size=2) if key == "block" else tables(make)
        out[key] = draw(make)
    return out


@st.composite
def configs(draw):
    config = draw(tables("config"))
    for index, block in enumerate(config["block"]):
        block["name"] += f"-{index}"  # names are unique
        if draw(st.booleans()):  # a trace block: no grid, its trace table, a trace figure
            block.update(kind="trace", method="mc", trace=draw(tables("trace")), figure={"kind": "trace"})
            block.pop("grid", None)
    return config


def _tables(config):
    """Every table of ``config`` with its schema: ``(schema, table)``."""
    yield "config", config
    if "executor" in config:
        yield "executor", config["executor"]
    for block in config["block"]:
        yield "block", block
        for inner in (block, block.get("quick", {})):
            for key in ("quick", "figure", "trace"):
                if key in inner:
                    yield key, inner[key]
            yield from (("range", axis) for axis in inner.get("grid", {}).values() if isinstance(axis, dict))


SCHEMA_FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
WRONG = [5, 2.5, "text", True, [1], ["x"], {"a": 1}]


def test_every_key_of_the_schema_has_a_generator():
    assert {(t, k) for t, fields in SCHEMA.items() for k in fields} <= set(VALID)


@SCHEMA_FUZZ
@given(config=configs())
def test_configs_built_from_the_schema_are_accepted(config):
    parse_config(config)
    parse_config(config, quick=True)


@SCHEMA_FUZZ
@given(config=configs(), data=st.data())
def test_a_mutated_config_is_refused_in_one_line_naming_the_key(config, data):
    schema, table = data.draw(st.sampled_from(list(_tables(config))))
    mutation = data.draw(st.sampled_from(["extra key", "wrong type", "dropped key"]))
    fields = SCHEMA[schema]
    if mutation == "extra key":
        key = data.draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in fields))
        table[key] = data.draw(st.sampled_from(WRONG))
    elif mutation == "wrong type":
        hypothesis.assume(table)
        key = data.draw(st.sampled_from(list(table)))
        table[key] = data.draw(st.sampled_from([v for v in WRONG if not TYPES[fields[key].type][1](v)]))
    else:
        required = [k for k, f in fields.items() if f.required]
        hypothesis.assume(required)
        key = data.draw(st.sampled_from(required))
        del table[key]
    with pytest.raises(VarbenchError) as caught:  # any other exception fails the test
        parse_config(config)
    message = str(caught.value)
    assert "\n" not in message
    assert (key if key == "block" else repr(key)) in message, (mutation, schema, key, message)
