"""JSON read with limits: every JSON the node accepts (request bodies, ``manifest.json``, ``manifest.sig``).

Refused, each with a machine code (:class:`JsonRefused`): more than ``max_bytes`` (``too_large``), not
UTF-8 or not JSON (``malformed_json``), nested deeper than ``max_depth`` arrays/objects
(``too_deep``; also what a body nested thousands deep gets, which the standard parser would answer
with ``RecursionError``), ``NaN``/``Infinity`` or a number that overflows a double
(``non_finite_number``), an integer outside the signed 64-bit range (``number_out_of_range``), a
string with a lone surrogate such as ``"\\ud800"`` (``invalid_string``: it cannot be stored as UTF-8).
"""

from __future__ import annotations

import json
import math

MAX_DEPTH = 32
INT64 = (-(2 ** 63), 2 ** 63 - 1)


class JsonRefused(ValueError):
    """JSON that is malformed or outside the limits; ``code`` says which limit."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


def _constant(name: str):
    raise JsonRefused(f"{name} is not allowed in JSON", "non_finite_number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused(f"the number {text[:40]} does not fit a double", "non_finite_number")
    return value


def _int(text: str) -> int:
    value = int(text) if len(text) <= 20 else None  # 19 digits and a sign: never a 4,300-digit conversion
    if value is None or not INT64[0] <= value <= INT64[1]:
        raise JsonRefused(f"the integer {text[:40]}{'...' if len(text) > 40 else ''} is outside the signed 64-bit range",
                          "number_out_of_range")
    return value


def _check_string(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonRefused("a string holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode",
                          "invalid_string") from None


def check_tree(value, max_depth: int = MAX_DEPTH) -> None:
    """Walk a parsed value without recursion: depth within ``max_depth``, every string valid Unicode."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item)
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth >= max_depth:
            raise JsonRefused(f"JSON is nested deeper than {max_depth} levels", "too_deep")
        if isinstance(item, dict):
            for key, child in item.items():
                _check_string(key)
                stack.append((child, depth + 1))
        else:
            stack.extend((child, depth + 1) for child in item)


def loads(raw: bytes | str, *, max_bytes: int, max_depth: int = MAX_DEPTH):
    """Parse ``raw`` as JSON within the limits above; raise :class:`JsonRefused` otherwise.

    :param max_bytes: the largest document accepted, in bytes.
    :param max_depth: the deepest nesting of arrays and objects accepted.
    """
    if len(raw) > max_bytes:
        raise JsonRefused(f"JSON is larger than the limit of {max_bytes} bytes", "too_large")
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
        value = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except JsonRefused:
        raise
    except RecursionError:
        raise JsonRefused(f"JSON is nested deeper than {max_depth} levels", "too_deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise JsonRefused(f"malformed JSON: {str(exc)[:200]}", "malformed_json") from None
    check_tree(value, max_depth)
    return value
