import pytest

from varbench.core.errors import VarbenchError
from varbench.spec import format_spec, parse_assignment, parse_spec, parse_value


def test_parse_spec_name_only():
    assert parse_spec("gaussian") == ("gaussian", {})


def test_parse_spec_values_parse_as_json_or_strings():
    name, opts = parse_spec("gaussian:cost=square,k=0,dim=3,flag=true,target=[0.5,-0.3],note=hello world")
    assert name == "gaussian"
    assert opts == {"cost": "square", "k": 0, "dim": 3, "flag": True, "target": [0.5, -0.3], "note": "hello world"}


def test_commas_inside_brackets_do_not_split():
    assert parse_spec("p:a=[1,2,3],b=[[1,2],[3,4]]")[1] == {"a": [1, 2, 3], "b": [[1, 2], [3, 4]]}


@pytest.mark.parametrize("bad", ["", "p:a=[1,2", "p:a=1]", "p:k", "p:=3", "p:a=1,a=2"])
def test_bad_specs_raise_one_line_errors(bad):
    with pytest.raises(VarbenchError) as info:
        parse_spec(bad)
    assert "\n" not in str(info.value)


def test_parse_assignment_and_value():
    assert parse_assignment("mean=[1, 2]") == ("mean", [1, 2])
    assert parse_value(" 1e-3 ") == 1e-3
    assert parse_value("square") == "square"


def test_format_spec_round_trips():
    opts = {"cost": "cos", "k": 2.5, "target": [0.1, 0.2]}
    assert parse_spec(format_spec("gaussian", opts)) == ("gaussian", opts)
    assert format_spec("pathwise", {}) == "pathwise"
