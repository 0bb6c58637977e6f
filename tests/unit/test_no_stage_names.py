"""No product code names a stage (#13): stages come from the topology, decisions from trust.

The stage names are read from the default topology; every product file except the
default's definition must not hold one as a string literal. Docstrings and comments
may name them (docs say what the default is). A stage named like a trust level
(``review``) is refused only as a whole literal: the word is the trust level's
name in messages ("deletes only review stacks").
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from stackrelay import topology, trust

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("functions", "scripts")

DEFINITION = {"functions/stackrelay/topology.py"}  # the default topology (and trust levels)
PENDING_TOPOLOGY: set[str] = set()
"""Files rewritten by helper `topology` that still named stages (empty: none left)."""


def default_stage_names() -> set[str]:
    accounts = {key: f"{i:012d}" for i, key in enumerate(("dev", "staging", "prod"), 1)}
    return {stage.name for stage in topology.default(accounts, "us-east-1").stages}


def _docstrings(tree: ast.AST) -> set[int]:
    """String statements: module/class/function docstrings and attribute docstrings."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def stage_literals(source: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, literal) of every string literal in ``source`` that names a stage."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    words = {n: re.compile(rf"(?<!\w){re.escape(n)}(?!\w)") for n in names}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        if id(node) in docs:
            continue
        text = node.value
        for name in names:
            whole = text == name
            word = name not in trust.TRUST_LEVELS and words[name].search(text)
            if whole or word:
                found.append((node.lineno, text))
                break
    return sorted(found)


def product_files() -> list[str]:
    return sorted(
        str(path.relative_to(ROOT))
        for top in PRODUCT
        for path in (ROOT / top).rglob("*.py")
        if ".venv" not in path.parts
    )


def test_default_topology_names_stages() -> None:
    # The check below is only as good as this list.
    assert len(default_stage_names()) >= 3


def test_product_code_names_no_stage() -> None:
    names = default_stage_names()
    offenders = []
    for rel in product_files():
        if rel in DEFINITION or rel in PENDING_TOPOLOGY:
            continue
        for line, text in stage_literals((ROOT / rel).read_text(), names):
            offenders.append(f"{rel}:{line}: {text[:80]!r}")
    assert not offenders, "stage names in product code (read them from the topology):\n" + (
        "\n".join(offenders)
    )


def test_allowed_files_exist() -> None:
    # A stale allowance would hide a file that should be checked again.
    for rel in DEFINITION | PENDING_TOPOLOGY:
        assert (ROOT / rel).exists(), rel


@pytest.mark.parametrize(
    "source",
    [
        'if stage.stage == "prod":\n    pass\n',
        'STAGES = ("review", "staging")\n',
        'def f(stage="staging"):\n    return stage\n',
        'message = f"teardown never touches staging or {x}"\n',
        'x = {"prod": 1}\n',
        'x = "sr-app-staging"\n',
    ],
)
def test_stage_literals_planted_violation_is_found(source: str) -> None:
    assert stage_literals(source, {"review", "staging", "prod"})


@pytest.mark.parametrize(
    "source",
    [
        '"""A docstring may say staging and prod."""\n',
        "# a comment about prod\nx = 1\n",
        'msg = "StackRelay deletes only review stacks"\n',
        'env = "production"\nkind = "prestaging"\n',
        "from stackrelay import trust\nok = trust.REVIEW\n",
    ],
)
def test_stage_literals_docs_and_other_words_pass(source: str) -> None:
    assert stage_literals(source, {"review", "staging", "prod"}) == []
