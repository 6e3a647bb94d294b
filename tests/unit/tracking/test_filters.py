"""The filter parser: what it accepts, the tree it builds, and where its errors point."""

from __future__ import annotations

import pytest

from shipyard.errors import FilterSyntaxError
from shipyard.tracking.filters import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    Comparison,
    Field,
    Logical,
    parse_filter,
    parse_order_by,
)


def test_the_documented_example() -> None:
    tree = parse_filter("metrics.auc > 0.8 and params.penalty = 'l2'")
    assert tree == Logical("and", (
        Comparison(Field("metrics", "auc"), ">", 0.8),
        Comparison(Field("params", "penalty"), "=", "l2"),
    ))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.loss <= -1e-3", Comparison(Field("metrics", "loss"), "<=", -0.001)),
        ("metric.auc == 1", Comparison(Field("metrics", "auc"), "=", 1.0)),
        ("params.x <> 'a'", Comparison(Field("params", "x"), "!=", "a")),
        ("tags.`my tag` LIKE 'ds%'", Comparison(Field("tags", "my tag"), "like", "ds%")),
        ('tags."quoted" not ilike "A%"', Comparison(Field("tags", "quoted"), "not ilike", "A%")),
        ("metrics.val.loss < 2", Comparison(Field("metrics", "val.loss"), "<", 2.0)),
        ("metrics.train/loss-v2 < 2", Comparison(Field("metrics", "train/loss-v2"), "<", 2.0)),
        ("attributes.status IN ('FINISHED', 'FAILED')",
         Comparison(Field("attributes", "status"), "in", ("FINISHED", "FAILED"))),
        ("attr.run_name = 'x'", Comparison(Field("attributes", "name"), "=", "x")),
        ("params.C NOT IN (1, 2)", Comparison(Field("params", "C"), "not in", (1.0, 2.0))),
        ("metrics.auc IS NULL", Comparison(Field("metrics", "auc"), "is null", None)),
        ("params.x is not null", Comparison(Field("params", "x"), "is not null", None)),
        ("params.s = 'it''s'", Comparison(Field("params", "s"), "=", "it's")),
        ("params.s = 'it\\'s'", Comparison(Field("params", "s"), "=", "it's")),
    ],
)
def test_comparisons(text: str, expected: Comparison) -> None:
    assert parse_filter(text) == expected


def test_and_binds_tighter_than_or_and_parentheses_override() -> None:
    a, b, c = (Comparison(Field("metrics", name), ">", 1.0) for name in "abc")
    assert parse_filter("metrics.a > 1 or metrics.b > 1 and metrics.c > 1") == Logical(
        "or", (a, Logical("and", (b, c))))
    assert parse_filter("(metrics.a > 1 or metrics.b > 1) and metrics.c > 1") == Logical(
        "and", (Logical("or", (a, b)), c))


def test_blank_filter_means_everything() -> None:
    assert parse_filter("") is None
    assert parse_filter("   ") is None


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("metrics.auc >", 13, "ends too early"),
        ("metrics.auc > 0.8 and", 21, "ends too early"),
        ("metrics.auc ~ 3", 12, "Unexpected character '~'"),
        ("params.x = 'abc", 11, "never closed"),
        ("foo.bar = 1", 0, "Unknown field 'foo'"),
        ("metrics.auc = 'x'", 0, "compare it with a number"),
        ("metrics.auc LIKE '%'", 0, "LIKE works on params"),
        ("attributes.bogus = 1", 11, "Unknown attribute 'bogus'"),
        ("metrics.auc > 0.8 params.x = 1", 18, "join conditions with 'and' or 'or'"),
        ("params.x = unquoted", 11, "quote strings"),
        ("(metrics.a > 1", 0, "never closed"),
        ("metrics.a 1", 10, "Expected an operator"),
        ("metrics.a IS 1", 13, "Expected NULL"),
        ("params.a NOT = 1", 13, "Expected LIKE, ILIKE or IN after NOT"),
    ],
)
def test_errors_point_at_the_bad_token(text: str, position: int, message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=message) as caught:
        parse_filter(text)
    assert caught.value.position == position
    assert caught.value.field == "filter"
    caret_line = str(caught.value).splitlines()[-1]
    assert caret_line.index("^") - 2 == position  # the pointer sits under the offending token


def test_order_by() -> None:
    assert parse_order_by("metrics.auc DESC") == (Field("metrics", "auc"), True)
    assert parse_order_by("params.C asc") == (Field("params", "C"), False)
    assert parse_order_by("attributes.start_time") == (Field("attributes", "start_time"), False)
    with pytest.raises(FilterSyntaxError, match="ASC or DESC"):
        parse_order_by("metrics.auc sideways")
    with pytest.raises(FilterSyntaxError, match="needs a field"):
        parse_order_by("")


def test_parentheses_nest_at_most_max_depth() -> None:
    deepest = "(" * MAX_DEPTH + "metrics.a > 1" + ")" * MAX_DEPTH
    assert parse_filter(deepest) == Comparison(Field("metrics", "a"), ">", 1.0)
    too_deep = "(" * 2000 + "metrics.a > 1" + ")" * 2000  # used to end in RecursionError
    with pytest.raises(FilterSyntaxError, match=f"nest more than {MAX_DEPTH} deep") as caught:
        parse_filter(too_deep)
    assert caught.value.position == MAX_DEPTH  # the first parenthesis past the limit
    siblings = " or ".join(["(metrics.a > 1)"] * 60)  # many groups side by side are not deep
    assert isinstance(parse_filter(siblings), Logical)


def test_a_filter_holds_at_most_max_conditions() -> None:
    most = " and ".join(["metrics.a > 1"] * MAX_CONDITIONS)
    tree = parse_filter(most)
    assert isinstance(tree, Logical) and len(tree.items) == MAX_CONDITIONS
    with pytest.raises(FilterSyntaxError, match=f"at most {MAX_CONDITIONS} conditions"):
        parse_filter(" and ".join(["metrics.a > 1"] * 3000))
    with pytest.raises(FilterSyntaxError, match=f"at most {MAX_CONDITIONS} conditions"):  # counted across groups
        parse_filter(" or ".join([f"({' and '.join(['params.x = 1'] * 50)})"] * 5))
