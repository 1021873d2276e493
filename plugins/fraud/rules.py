"""Declarative fraud rules: a YAML or JSON file (or the hub-owned ``fraud_rules`` table) compiled once.

A rule file::

    version: "2026-12-01"
    rules:
      - id: known-good-account
        action: allow            # allow | block | review
        when: account_allowlisted
        reason: the account is on the allow list

Evaluation follows Stripe Radar: every allow rule in file order, then every block rule, then every
review rule; the first rule that matches decides. Every rule is still evaluated so the answer (and a
backtest) shows all rule hits. Compiling collects every error of every rule (syntax, unknown field,
unknown action, duplicate id) before refusing, so a bad file is refused whole and the rules already
active keep running.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import expr
from .features import RULE_FIELDS

ACTIONS = ("allow", "block", "review")
MAX_RULES = 500


class RuleSetError(ValueError):
    """A rule set that cannot be installed; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Rule:
    """One compiled rule."""

    id: str
    action: str
    when: str
    reason: str
    tree: expr.Node = field(repr=False, compare=False)


@dataclass(frozen=True)
class RuleSet:
    """A compiled rule set in evaluation order (allow, block, review; file order within each)."""

    version: str
    rules: tuple[Rule, ...]

    def hits(self, env: dict) -> list[Rule]:
        """Every rule that matches ``env``, in evaluation order."""
        return [rule for rule in self.rules if expr.evaluate(rule.tree, env) is True]

    def decide(self, env: dict) -> tuple[Rule | None, list[Rule]]:
        """The deciding rule (the first hit in evaluation order, or ``None``) and every hit."""
        hits = self.hits(env)
        return (hits[0] if hits else None), hits


def _compile_rule(index: int, raw, seen: set, errors: list[str]) -> Rule | None:
    where = f"rule {index + 1}"
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be a mapping with id, action and when")
        return None
    rule_id = raw.get("id")
    where = f"rule {index + 1} ({rule_id})" if rule_id else where
    problems = []
    unknown_keys = set(raw) - {"id", "action", "when", "reason", "enabled", "position", "version"}
    if unknown_keys:
        problems.append(f"unknown key(s) {', '.join(sorted(map(str, unknown_keys)))}")
    if not isinstance(rule_id, str) or not rule_id.strip() or len(rule_id) > 100:
        problems.append("id must be a non-empty string of at most 100 characters")
    elif rule_id in seen:
        problems.append("id is used by an earlier rule")
    else:
        seen.add(rule_id)
    if raw.get("action") not in ACTIONS:
        problems.append(f"action must be one of {', '.join(ACTIONS)}")
    if not isinstance(raw.get("reason", ""), str):
        problems.append("reason must be a string")
    tree = None
    try:
        tree = expr.parse(raw.get("when"))
        unknown = sorted(expr.names(tree) - RULE_FIELDS)
        if unknown:
            problems.append(f"unknown field(s) {', '.join(unknown)}")
    except expr.ExprError as exc:
        problems.append(f"when: {exc}")
    errors += [f"{where}: {p}" for p in problems]
    if problems:
        return None
    return Rule(rule_id, raw["action"], raw["when"], raw.get("reason") or f"rule {rule_id}", tree)


def compile_rules(raw_rules, version: str = "") -> RuleSet:
    """Compile a list of rule mappings; ``RuleSetError`` lists every problem of every rule."""
    if not isinstance(raw_rules, list):
        raise RuleSetError(["'rules' must be a list of rules"])
    if len(raw_rules) > MAX_RULES:
        raise RuleSetError([f"a rule set has at most {MAX_RULES} rules"])
    errors: list[str] = []
    seen: set = set()
    compiled = [_compile_rule(i, raw, seen, errors) for i, raw in enumerate(raw_rules)]
    if errors:
        raise RuleSetError(errors)
    ordered = sorted(compiled, key=lambda rule: ACTIONS.index(rule.action))  # stable: file order within an action
    return RuleSet(str(version or ""), tuple(ordered))


def parse_text(text: str, filename: str = "rules.yaml") -> dict:
    """The mapping in a rule file's text (JSON for ``.json``, YAML otherwise); ``RuleSetError`` if it does not parse."""
    import yaml

    try:
        data = json.loads(text) if filename.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise RuleSetError([f"{Path(filename).name} does not parse: {str(exc).splitlines()[0]}"]) from None
    if isinstance(data, list):
        data = {"rules": data}
    if not isinstance(data, dict) or "rules" not in data:
        raise RuleSetError([f"{Path(filename).name} must hold a mapping with a 'rules' list"])
    return data


def load_file(path: Path) -> RuleSet:
    """Compile the rule file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleSetError([f"cannot read {path.name}: {exc.__class__.__name__}"]) from None
    data = parse_text(text, path.name)
    return compile_rules(data["rules"], data.get("version", ""))


def table_rows(ruleset_data: dict) -> list[dict]:
    """The ``fraud_rules`` rows of a parsed rule file (position keeps the file order)."""
    version = str(ruleset_data.get("version", ""))
    return [{"id": r["id"], "position": i, "action": r["action"], "expr": r["when"], "reason": r.get("reason", ""),
             "enabled": 1, "version": version} for i, r in enumerate(ruleset_data["rules"])]


def from_table(db) -> RuleSet | None:
    """The rule set held in ``fraud_rules`` (``None`` when the table is empty)."""
    rows = list(db.execute("SELECT id, action, expr, reason, version FROM fraud_rules WHERE enabled = 1 "
                           "ORDER BY position, id").fetchall())
    if not rows:
        return None
    raw = [{"id": r[0], "action": r[1], "when": r[2], "reason": r[3] or ""} for r in rows]
    return compile_rules(raw, max((r[4] or "" for r in rows), default="") or "table")


DEFAULT_RULES = [
    {"id": "allow-listed", "action": "allow", "when": "allowlisted and not blocklisted",
     "reason": "an entity of the payment is on the allow list"},
    {"id": "block-listed", "action": "block", "when": "blocklisted", "reason": "an entity of the payment is on the block list"},
    {"id": "card-testing-burst", "action": "block", "when": "card_count_1m >= 5 or device_count_1m >= 8",
     "reason": "many payments in one minute from one card or device (card testing)"},
    {"id": "known-fraud-neighbour", "action": "review", "when": "fraud_distance <= 2",
     "reason": "within two hops of a confirmed fraud account, card, device or IP"},
    {"id": "shared-device", "action": "review", "when": "accounts_per_device >= 4 or accounts_per_card >= 3",
     "reason": "a device or card shared by many accounts (a possible ring)"},
]


def default_rules() -> RuleSet:
    """The built-in rule set, used when neither the hub table nor the bundle holds rules."""
    return compile_rules(DEFAULT_RULES, "builtin-1")
