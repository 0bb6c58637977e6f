"""Canary: every moto internal the engine relies on still exists as expected.

When moto is upgraded and one of these fails, the message names the seam and
why the engine needs it: fix that seam in stackrelay_local/seams.py.
"""

from __future__ import annotations

from importlib.metadata import version

import pytest
from stackrelay_local import seams


@pytest.mark.parametrize("name", sorted(seams.SEAMS))
def test_seam_resolves_in_installed_moto(name: str) -> None:
    try:
        seams.SEAMS[name].resolve()
    except seams.SeamMissing as missing:
        pytest.fail(f"moto seam {name!r} broke: {missing}")


def test_seams_moto_version_is_the_pinned_one() -> None:
    assert version("moto") == seams.MOTO_VERSION, (
        "moto is not the version the seams were checked against; run tests/engine/test_seams.py "
        "and update seams.MOTO_VERSION"
    )


def test_seam_missing_names_the_seam_and_why() -> None:
    ghost = seams.Seam("moto.awslambda.models:LambdaFunction._gone", "because we need it")
    with pytest.raises(seams.SeamMissing, match=r"LambdaFunction\._gone.*because we need it"):
        ghost.resolve()


def test_seam_changed_signature_is_reported() -> None:
    moved = seams.Seam(
        "moto.awslambda.models:LambdaFunction._invoke_lambda", "run handlers", ("self", "payload")
    )
    with pytest.raises(seams.SeamMissing, match="changed signature"):
        moved.resolve()


def test_seams_patches_are_undone_at_stop() -> None:
    from stackrelay_local import LocalEngine

    lambda_fn = seams.resolve("lambda_invoke")
    wait = seams.resolve("wait_interval")
    with LocalEngine():
        assert seams.resolve("lambda_invoke") is not lambda_fn
    assert seams.resolve("lambda_invoke") is lambda_fn
    assert seams.resolve("wait_interval") is wait


def test_asl_parse_is_kept_per_definition_and_each_use_gets_its_own_program() -> None:
    from stackrelay_local import LocalEngine

    definition = '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}'
    with LocalEngine():
        parse = seams.resolve("asl_parse")
        first_program, first_tree = parse(definition)
        second_program, second_tree = parse(definition)
        _, changed_tree = parse(definition.replace("Done", "End"))

    assert second_tree is first_tree  # parsed once
    assert second_program is not first_program  # executions share no component
    assert changed_tree is not first_tree  # another text, another parse


def test_json_templates_are_read_as_json_and_yaml_still_works() -> None:
    from stackrelay_local import LocalEngine

    with LocalEngine():
        parse = seams.resolve("cfn_stack_parse_template")
        assert parse('{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}') == {
            "Resources": {"Q": {"Type": "AWS::SQS::Queue"}}
        }
        assert parse("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n") == {
            "Resources": {"Q": {"Type": "AWS::SQS::Queue"}}
        }


def test_cached_asl_tree_node_texts_are_antlr_own() -> None:
    """The texts remembered for a cached tree equal what antlr computes for each node."""
    from stackrelay_local import LocalEngine

    definition = (
        '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"x.$": "$.y", '
        '"n": [1, 2]}, "Next": "B"}, "B": {"Type": "Succeed"}}}'
    )
    rule_text = seams.resolve("antlr_rule_text")
    terminal_text = seams.resolve("antlr_terminal_text")
    with LocalEngine():
        parse = seams.resolve("asl_parse")
        parse(definition)
        _, tree = parse(definition)
        nodes, stack = [], [tree]
        while stack:
            node = stack.pop()
            nodes.append(node)
            stack.extend(getattr(node, "children", None) or [])
        remembered = [node.getText() for node in nodes]
        kept = all(id(node) in seams._ASL_TEXTS for node in nodes)
    own = [(terminal_text if not hasattr(n, "children") else rule_text)(n) for n in nodes]

    assert kept and len(nodes) > 20
    assert remembered == own
