"""A small, safe expression language for fraud rules: parsed by hand, never ``eval``.

Grammar (lowest precedence first)::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") sum)?
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/" | "%") unary)*
    unary   := "-" unary | atom
    atom    := NUMBER | STRING | "true" | "false" | "null" | NAME | NAME "(" args ")" | "[" items "]" | "(" expr ")"

Names are fields of the payload or derived features (checked against a known set when a rule is
compiled); there is no attribute access, no subscripting, no assignment and no loop, and the only
calls are ``min``, ``max``, ``abs`` and ``lower``. An expression is at most ``MAX_CHARS`` characters
and ``MAX_NODES`` nodes, so evaluating one costs at most ``MAX_NODES`` steps. A missing value
(``null``) compares false with anything but ``null``; arithmetic on it gives ``null``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MAX_CHARS = 1000
MAX_NODES = 200
MAX_LIST = 100
FUNCTIONS = {"min": (1, MAX_LIST), "max": (1, MAX_LIST), "abs": (1, 1), "lower": (1, 1)}
KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_TOKEN = re.compile(r"""\s*(?:(?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<str>'[^'\\]*'|"[^"\\]*")|"""
                    r"""(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>==|!=|<=|>=|[<>+\-*/%(),\[\]]))""")


class ExprError(ValueError):
    """A rule expression that does not parse, is too large or names an unknown field."""


@dataclass(frozen=True)
class Node:
    """One node of a parsed expression: ``kind`` is ``lit``, ``name``, ``call``, ``list``, ``unary`` or ``bin``."""

    kind: str
    value: object = None
    args: tuple = ()


def tokenize(text: str) -> list[tuple[str, str]]:
    """``[(kind, text)]`` of ``text``; ``ExprError`` at the first character that starts no token."""
    if len(text) > MAX_CHARS:
        raise ExprError(f"an expression has at most {MAX_CHARS} characters")
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise ExprError(f"unexpected character {text[pos:].lstrip()[:1]!r} at position {pos}")
        kind = match.lastgroup
        word = match.group(kind)
        tokens.append(("kw" if kind == "name" and word in KEYWORDS else kind, word))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens):
        self.tokens, self.pos, self.nodes = tokens, 0, 0

    def peek(self, offset: int = 0):
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else (None, None)

    def take(self, *words):
        kind, word = self.peek()
        if word in words and kind in ("op", "kw"):
            self.pos += 1
            return word
        return None

    def expect(self, word):
        if not self.take(word):
            raise ExprError(f"expected {word!r} at token {self.pos + 1} ({self.peek()[1] or 'end'!r} found)")

    def node(self, *args, **kwargs) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExprError(f"an expression has at most {MAX_NODES} parts")
        return Node(*args, **kwargs)

    def binary(self, ops, operand):
        left = operand()
        while (op := self.take(*ops)) is not None:
            left = self.node("bin", op, (left, operand()))
        return left

    def or_(self):
        return self.binary(("or",), self.and_)

    def and_(self):
        return self.binary(("and",), self.not_)

    def not_(self):
        if self.take("not"):
            return self.node("unary", "not", (self.not_(),))
        return self.compare()

    def compare(self):
        left = self.sum_()
        if self.peek() == ("kw", "not") and self.peek(1) == ("kw", "in"):
            self.pos += 2
            return self.node("bin", "not in", (left, self.sum_()))
        op = self.take("==", "!=", "<", "<=", ">", ">=", "in")
        return self.node("bin", op, (left, self.sum_())) if op else left

    def sum_(self):
        return self.binary(("+", "-"), self.product)

    def product(self):
        return self.binary(("*", "/", "%"), self.unary)

    def unary(self):
        if self.take("-"):
            return self.node("unary", "-", (self.unary(),))
        return self.atom()

    def atom(self):
        kind, word = self.peek()
        if kind is None:
            raise ExprError("the expression ends too early")
        self.pos += 1
        if kind == "num":
            return self.node("lit", float(word) if any(c in word for c in ".eE") else int(word))
        if kind == "str":
            return self.node("lit", word[1:-1])
        if kind == "kw" and word in ("true", "false", "null"):
            return self.node("lit", {"true": True, "false": False, "null": None}[word])
        if kind == "name":
            return self.call(word) if self.take("(") else self.node("name", word)
        if word == "[":
            return self.node("list", None, self.items("]"))
        if word == "(":
            inner = self.or_()
            self.expect(")")
            return inner
        raise ExprError(f"unexpected {word!r} at token {self.pos}")

    def items(self, close):
        items = []
        if not self.take(close):
            items.append(self.or_())
            while self.take(","):
                items.append(self.or_())
            self.expect(close)
        if len(items) > MAX_LIST:
            raise ExprError(f"a list has at most {MAX_LIST} items")
        return tuple(items)

    def call(self, name):
        if name not in FUNCTIONS:
            raise ExprError(f"unknown function {name!r} (known: {', '.join(sorted(FUNCTIONS))})")
        args = self.items(")")
        low, high = FUNCTIONS[name]
        if not low <= len(args) <= high:
            raise ExprError(f"{name}() takes {low}..{high} arguments, {len(args)} given")
        return self.node("call", name, args)


def parse(text: str) -> Node:
    """Parse ``text`` into a tree of :class:`Node`; ``ExprError`` explains what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("an expression must be a non-empty string")
    parser = _Parser(tokenize(text))
    tree = parser.or_()
    if parser.pos != len(parser.tokens):
        raise ExprError(f"unexpected {parser.peek()[1]!r} after the end of the expression")
    return tree


def names(tree: Node) -> set[str]:
    """Every field name the expression reads."""
    found = {tree.value} if tree.kind == "name" else set()
    for child in tree.args:
        found |= names(child)
    return found


def _arith(op, a, b):
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or isinstance(a, bool) or isinstance(b, bool):
        return None
    if op in "/%" and b == 0:
        return None
    value = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b, "%": lambda: a % b}[op]()
    return value if math.isfinite(value) else None


def _compare(op, a, b):
    if op in ("in", "not in"):
        inside = isinstance(b, (list, tuple, str)) and a is not None and (not isinstance(b, str) or isinstance(a, str)) and a in b
        return inside if op == "in" else not inside and a is not None
    if op in ("==", "!="):
        return (a == b) if op == "==" else (a != b)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if not numbers and not (isinstance(a, str) and isinstance(b, str)):
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _call(name, values):
    if name == "abs":
        return abs(values[0]) if isinstance(values[0], (int, float)) else None
    if name == "lower":
        return values[0].lower() if isinstance(values[0], str) else None
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return (min if name == "min" else max)(numbers) if numbers else None


def evaluate(tree: Node, env: dict):
    """The value of ``tree`` with names read from ``env`` (a missing name is ``null``)."""
    kind = tree.kind
    if kind == "lit":
        return tree.value
    if kind == "name":
        return env.get(tree.value)
    if kind == "list":
        return [evaluate(item, env) for item in tree.args]
    if kind == "call":
        return _call(tree.value, [evaluate(arg, env) for arg in tree.args])
    if kind == "unary":
        value = evaluate(tree.args[0], env)
        if tree.value == "not":
            return not value
        return -value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    op, (left, right) = tree.value, tree.args
    if op == "and":
        return bool(evaluate(left, env)) and bool(evaluate(right, env))
    if op == "or":
        return bool(evaluate(left, env)) or bool(evaluate(right, env))
    a, b = evaluate(left, env), evaluate(right, env)
    return _arith(op, a, b) if op in "+-*/%" else _compare(op, a, b)
