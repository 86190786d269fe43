"""Grid constraints such as ``fast < slow``: parsed with :mod:`ast`, never ``eval``.

Allowed: names of swept parameters, numbers (and quoted text or true/false to compare a text
or boolean parameter with ``==`` / ``!=``), the comparisons ``< <= > >= == !=`` (chains such as
``10 <= fast < slow`` included), ``and`` / ``or`` / ``not``, ``+ - * /`` and parentheses.
Anything else (calls, attributes, subscripts, ``**``, lambdas, ...) is refused with a one-line
error before anything runs. A constraint is evaluated on whole columns of the grid at once
(numpy), so a million combos cost milliseconds.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import ConfigError, did_you_mean

ALLOWED = ("names of swept parameters, numbers, < <= > >= == !=, and / or / not, "
           "+ - * / and parentheses")
_COMPARE = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater,
            ast.GtE: np.greater_equal, ast.Eq: np.equal, ast.NotEq: np.not_equal}
_ARITH = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide}
_BOOLEAN_TOP = (ast.Compare, ast.BoolOp)


@dataclass(frozen=True)
class Constraint:
    """One parsed constraint; call :meth:`evaluate` on a mapping of parameter columns."""

    text: str
    tree: ast.Expression
    names: tuple[str, ...]  # the parameters it reads

    def evaluate(self, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """(n,) bool: True where the combo satisfies the constraint."""
        with np.errstate(all="ignore"):
            try:
                out = _eval(self.tree.body, columns)
            except TypeError:
                raise ConfigError(f"sweep.constraints: '{self.text}' mixes text and numbers "
                                  "(text parameters can only be compared with == or !=)",
                                  ("sweep", "constraints")) from None
        out = np.asarray(out)
        if out.dtype != bool:
            raise ConfigError(f"sweep.constraints: '{self.text}' is not a true/false test",
                              ("sweep", "constraints"))
        return np.broadcast_to(out, (n,))


def _fail(text: str, index: int, why: str) -> ConfigError:
    return ConfigError(f"sweep.constraints[{index}]: '{text}' {why}; allowed: {ALLOWED}",
                       ("sweep", "constraints", index))


def _node_text(node: ast.AST, text: str) -> str:
    return ast.get_source_segment(text, node) or type(node).__name__


def _check(node: ast.AST, text: str, index: int, params: Sequence[str], used: set) -> None:
    """Walk the tree; raise on anything outside the allowed grammar."""
    if isinstance(node, ast.Expression):
        return _check(node.body, text, index, params, used)
    if isinstance(node, ast.BoolOp | ast.Compare | ast.BinOp | ast.UnaryOp):
        for op in _operators(node):
            if not _allowed_operator(op):
                raise _fail(text, index, f"uses the operator {type(op).__name__}, not allowed")
        for child in _operands(node):
            _check(child, text, index, params, used)
        return None
    if isinstance(node, ast.Name):
        if node.id in ("true", "false"):
            return None
        if node.id not in params:
            raise _fail(text, index, f"reads '{node.id}', which is not a swept parameter"
                        f"{did_you_mean(node.id, params)} (swept: {', '.join(params)})")
        used.add(node.id)
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
        return None
    raise _fail(text, index, f"contains '{_node_text(node, text)}', which is not allowed")


def _operators(node: ast.AST) -> list[ast.AST]:
    return list(node.ops) if isinstance(node, ast.Compare) else [node.op]


def _operands(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BoolOp):
        return list(node.values)
    if isinstance(node, ast.Compare):
        return [node.left, *node.comparators]
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    return [node.operand]


def _allowed_operator(op: ast.AST) -> bool:
    return type(op) in _COMPARE or type(op) in _ARITH or isinstance(
        op, ast.And | ast.Or | ast.Not | ast.USub | ast.UAdd)


def parse_constraint(text: str, index: int, params: Sequence[str]) -> Constraint:
    """Parse one constraint against the swept parameter names; ConfigError on anything else."""
    if not isinstance(text, str) or not text.strip():
        raise _fail(str(text), index, "is empty")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise _fail(text, index, f"is not a valid expression ({exc.msg})") from None
    used: set[str] = set()
    _check(tree, text.strip(), index, params, used)
    body = tree.body
    is_not = isinstance(body, ast.UnaryOp) and isinstance(body.op, ast.Not)
    if not (isinstance(body, _BOOLEAN_TOP) or is_not):
        raise _fail(text, index, "is not a comparison (write e.g. 'fast < slow')")
    return Constraint(text.strip(), tree, tuple(sorted(used)))


def _eval(node: ast.AST, columns: Mapping[str, np.ndarray]):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return {"true": True, "false": False}.get(node.id, columns.get(node.id))
    if isinstance(node, ast.BoolOp):
        values = [np.asarray(_eval(v, columns), dtype=bool) for v in node.values]
        reduce = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        return reduce.reduce(np.broadcast_arrays(*values))
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, columns)
        if isinstance(node.op, ast.Not):
            return np.logical_not(value)
        return np.negative(value) if isinstance(node.op, ast.USub) else np.positive(value)
    if isinstance(node, ast.BinOp):
        return _ARITH[type(node.op)](_eval(node.left, columns), _eval(node.right, columns))
    # Compare: a < b < c means (a < b) and (b < c)
    left = _eval(node.left, columns)
    out = True
    for op, right_node in zip(node.ops, node.comparators, strict=True):
        right = _eval(right_node, columns)
        out = np.logical_and(out, np.asarray(_COMPARE[type(op)](left, right), dtype=bool))
        left = right
    return out
