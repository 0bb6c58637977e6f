"""House rules for the orchestrator's template.yaml (STYLE.md, template.yaml section).

cfn-lint must be clean; the sections come in the contract order; parameters are
described and constrained; Globals carry what every function shares; state
machines use DefinitionUri with logging and tracing; every environment variable
the handlers read is set; every Handler exists and every handler module is
deployed; and every IAM policy (after the SAM transform, so policy templates
are expanded) is least privilege (issue 7.2). Each checker also runs on a copy
of the template with a planted violation, to show it can fail.
"""

from __future__ import annotations

import ast
import copy
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from policy_helpers import (
    ROOT,
    as_list,
    iam_action_resource_types,
    load_cfn,
    policies,
    resource_star_violations,
    service_wildcard_violations,
    statements,
    wildcard_action_violations,
)

TEMPLATE = ROOT / "template.yaml"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
FUNCTIONS = ROOT / "functions"
TASKS = FUNCTIONS / "stackrelay" / "tasks"

SECTION_ORDER = [
    "Transform",
    "Description",
    "Globals",
    "Parameters",
    "Conditions",
    "Resources",
    "Outputs",
]
REQUIRED_SECTIONS = {"Transform", "Description", "Globals", "Parameters", "Resources", "Outputs"}
GLOBAL_FUNCTION_KEYS = ("Runtime", "Architectures", "Timeout", "Tracing")
POWERTOOLS_VARIABLES = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}

# Allow statements may use Resource "*" only for these actions: IAM has no
# resource type for any of them (checked against cfn-lint's IAM data below).
RESOURCE_STAR_ALLOWED = {
    # Callback answers name a task token, not an ARN.
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    # Step Functions' vended log delivery (state machine Logging).
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # Tracing.
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    # Not cloudwatch:PutMetricData: IAM now scopes it to a "dataset" resource type
    # (and Powertools Metrics writes EMF to the log stream, not through the API).
}

# Set by the Lambda runtime itself: a handler may read them without the template.
LAMBDA_RUNTIME_VARIABLES = {
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_EXECUTION_ENV",
    "_X_AMZN_TRACE_ID",
    "LAMBDA_TASK_ROOT",
    # The function's own credentials (sessions.py keys its clients by them).
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    # The SDK's standard endpoint override: unset on AWS, set by the local engine.
    "AWS_ENDPOINT_URL",
}

ORCHESTRATOR_ACCOUNT = "111111111111"
PARAMETERS = {
    "DevAccountId": "222222222222",
    "StagingAccountId": "333333333333",
    "ProdAccountId": "444444444444",
    "ArtifactBucketName": "stackrelay-artifacts-test",
}
PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": ORCHESTRATOR_ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::StackName": "stackrelay",
}
DEPLOY_ROLE_ARNS = {
    f"arn:aws:iam::{account}:role/StackRelayDeployRole"
    for account in ("222222222222", "333333333333", "444444444444")
}

Template = dict[str, Any]


# --------------------------------------------------------------------------- load
@cache
def _loaded() -> Template:
    return load_cfn(TEMPLATE)


def template() -> Template:
    """A fresh copy of template.yaml (cfn-lint's loader: Ref/Fn::* mappings, keys in order)."""
    return copy.deepcopy(_loaded())


def resources_of(t: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in t["Resources"].items() if r["Type"] == kind}


def function_variables(t: Template, name: str) -> dict[str, Any]:
    props = t["Resources"][name].get("Properties", {})
    return props.get("Environment", {}).get("Variables", {})


def global_variables(t: Template) -> dict[str, Any]:
    return t.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})


def transformed(t: Template) -> dict[str, dict[str, Any]]:
    """The template's resources after the SAM transform (local paths as S3 URIs, as packaged)."""
    from stackrelay_local.sam import sam_transform

    packaged = _plain(t)
    packaged.get("Globals", {}).get("Function", {})["CodeUri"] = "s3://bucket/code.zip"
    for res in packaged["Resources"].values():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function" and "CodeUri" in props:
            props["CodeUri"] = "s3://bucket/code.zip"
        if res["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            props["DefinitionUri"] = "s3://bucket/definition.asl.json"
    values = {**PSEUDO, **PARAMETERS}
    return sam_transform(packaged, values, PSEUDO["AWS::Region"])["Resources"]


def _plain(node: Any) -> Any:
    """cfn-lint's str_node/dict_node as plain Python types (samtranslator wants these)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


@cache
def _transformed_repo() -> dict[str, dict[str, Any]]:
    return transformed(template())


def resolve(value: Any, **params: Any) -> Any:
    """Resolve intrinsics (Fn::If on the template's conditions, Sub, Select, Split, Join)
    over the test parameters and ``params``."""
    from test_setup_policies import Renderer

    t = _loaded()
    scope = {"Parameters": t["Parameters"], "Conditions": t["Conditions"], "Resources": {}}
    return Renderer(scope, {**PARAMETERS, **params}, ORCHESTRATOR_ACCOUNT).resolve(value)


def resolve_sub(value: Any) -> Any:
    """Resolve a string Fn::Sub / Ref over the test parameters (enough for role ARNs)."""
    names = {**PSEUDO, **PARAMETERS, "DeployRoleName": "StackRelayDeployRole"}
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return re.sub(
            r"\$\{([^}]+)\}", lambda m: names.get(m.group(1), m.group(0)), value["Fn::Sub"]
        )
    if isinstance(value, dict) and "Ref" in value:
        return names.get(value["Ref"], value)
    return value


# --------------------------------------------------------------------------- cfn-lint
def run_cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CFN_LINT), "--info", "--format", "parseable", "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=path.parent,
        timeout=300,
    )


def test_template_cfn_lint_reports_nothing() -> None:
    result = run_cfn_lint(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_template_cfn_lint_planted_error_reported(tmp_path: Path) -> None:
    # Given a copy with a runtime Lambda no longer offers, cfn-lint fails: the check can fail.
    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace("Runtime: python3.12", "Runtime: python2.7"))
    result = run_cfn_lint(broken)
    assert result.returncode != 0
    assert "python2.7" in result.stdout


# --------------------------------------------------------------------------- checks
def section_order_violations(t: Template) -> list[str]:
    present = [key for key in t if key in SECTION_ORDER]
    found = [f"missing {s}" for s in sorted(REQUIRED_SECTIONS - set(present))]
    if present != sorted(present, key=SECTION_ORDER.index):
        found.append(f"order {present}, want {[s for s in SECTION_ORDER if s in present]}")
    return found


def parameter_violations(t: Template) -> list[str]:
    found = []
    for name, spec in t.get("Parameters", {}).items():
        if not str(spec.get("Description", "")).strip():
            found.append(f"{name}: no Description")
        constrained = {"AllowedPattern", "AllowedValues"} & spec.keys()
        if spec.get("Type") == "Number":
            constrained |= {"MinValue", "MaxValue"} & spec.keys()
            bounded = {"MinValue", "MaxValue"} <= spec.keys()
            if not (bounded or "AllowedValues" in spec):
                found.append(f"{name}: Number needs MinValue and MaxValue or AllowedValues")
        if not constrained:
            found.append(f"{name}: no AllowedPattern/AllowedValues")
    return found


def globals_violations(t: Template) -> list[str]:
    shared = t.get("Globals", {}).get("Function", {})
    variables = global_variables(t)
    found = [f"Globals.Function has no {k}" for k in GLOBAL_FUNCTION_KEYS if k not in shared]
    found += [f"Globals has no {v}" for v in sorted(POWERTOOLS_VARIABLES - variables.keys())]
    for name, res in resources_of(t, "AWS::Serverless::Function").items():
        props = res.get("Properties", {})
        found += [f"{name} repeats {k}" for k in GLOBAL_FUNCTION_KEYS if k in props]
        found += [
            f"{name} repeats {v}"
            for v in function_variables(t, name)
            if v.startswith("POWERTOOLS_")
        ]
    return found


def state_machine_violations(t: Template) -> list[str]:
    found = []
    machines = resources_of(t, "AWS::Serverless::StateMachine")
    machines |= resources_of(t, "AWS::StepFunctions::StateMachine")
    if not machines:
        found.append("no state machines")
    for name, res in machines.items():
        props = res.get("Properties", {})
        if res["Type"] != "AWS::Serverless::StateMachine":
            found.append(f"{name}: not AWS::Serverless::StateMachine")
        found += [
            f"{name}: uses {k}"
            for k in ("DefinitionString", "Definition", "DefinitionS3Location")
            if k in props
        ]
        if not isinstance(props.get("DefinitionUri"), str):
            found.append(f"{name}: no local DefinitionUri")
        if props.get("Tracing", {}).get("Enabled") is not True:
            found.append(f"{name}: Tracing not enabled")
        logging = props.get("Logging", {})
        if logging.get("Level", "OFF") == "OFF":
            found.append(f"{name}: Logging off")
        groups = [
            d.get("CloudWatchLogsLogGroup", {}).get("LogGroupArn", {})
            for d in logging.get("Destinations", [])
        ]
        targets = [g["Fn::GetAtt"][0] for g in groups if isinstance(g, dict) and "Fn::GetAtt" in g]
        if not targets:
            found.append(f"{name}: no log group of its own in Logging.Destinations")
        for group in targets:
            res_group = t["Resources"].get(group, {})
            if res_group.get("Type") != "AWS::Logs::LogGroup":
                found.append(f"{name}: {group} is not a log group")
            elif "RetentionInDays" not in res_group.get("Properties", {}):
                found.append(f"{name}: {group} has no RetentionInDays")
    return found


# ---- environment variables the handlers read
_ENV_READERS = {"get", "getenv", "need"}


def read_variables(source: str) -> set[str]:
    """Names in os.environ[...] / os.environ.get / os.getenv / env.get / need("...") calls."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
            if called in _ENV_READERS and (
                called == "need" or owner in {"os", "os.environ", "env", "environ"}
            ):
                found.add(str(node.args[0].value))
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) in {"os.environ", "env"}:
            key = node.slice
            if isinstance(key, ast.Constant):
                found.add(str(key.value))
    return {name for name in found if re.fullmatch(r"[A-Z][A-Z0-9_]*", name)}


def handler_reads() -> dict[str, set[str]]:
    """Module path (relative to functions/) -> environment variables it reads."""
    return {
        str(p.relative_to(FUNCTIONS)): read_variables(p.read_text())
        for p in sorted((FUNCTIONS / "stackrelay").rglob("*.py"))
    }


def handler_module(t: Template, name: str) -> str:
    handler = t["Resources"][name]["Properties"]["Handler"]
    return handler.rsplit(".", 1)[0].replace(".", "/") + ".py"


def environment_violations(t: Template, reads: dict[str, set[str]]) -> list[str]:
    """A shared module's variables are set in Globals; a task's in Globals or its function."""
    shared = set(global_variables(t))
    by_module = {
        handler_module(t, name): shared | set(function_variables(t, name))
        for name in resources_of(t, "AWS::Serverless::Function")
    }
    found = []
    for module, names in reads.items():
        wanted = names - LAMBDA_RUNTIME_VARIABLES
        if module.startswith("stackrelay/tasks/") and module in by_module:
            have = by_module[module]
        else:
            have = shared
        found += [f"{module} reads {v}, not set in template.yaml" for v in sorted(wanted - have)]
    return found


# ---- handlers
def handler_violations(t: Template) -> list[str]:
    """Every Handler is stackrelay.tasks.X.lambda_handler in functions/; every task is deployed."""
    found = []
    code_uri = t.get("Globals", {}).get("Function", {}).get("CodeUri")
    deployed = set()
    for name, res in resources_of(t, "AWS::Serverless::Function").items():
        props = res.get("Properties", {})
        handler = str(props.get("Handler", ""))
        if not re.fullmatch(r"stackrelay\.tasks\.[a-z_]+\.lambda_handler", handler):
            found.append(
                f"{name}: Handler {handler!r} is not stackrelay.tasks.<module>.lambda_handler"
            )
            continue
        if props.get("CodeUri", code_uri) != "functions/":
            found.append(f"{name}: CodeUri is not functions/")
        path = FUNCTIONS / handler_module(t, name)
        deployed.add(path)
        if not path.is_file():
            found.append(f"{name}: {path.relative_to(ROOT)} does not exist")
            continue
        functions = {
            n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)
        }
        if "lambda_handler" not in functions:
            found.append(f"{name}: {path.relative_to(ROOT)} has no lambda_handler")
    for module in sorted(TASKS.glob("*.py")):
        if module.name != "__init__.py" and module not in deployed:
            found.append(f"{module.relative_to(ROOT)} has no function in template.yaml")
    return found


# ---- least privilege
def full_access_violations(t: Template, resources: dict[str, dict[str, Any]]) -> list[str]:
    """No *FullAccess (or AdministratorAccess) managed policy, as an ARN or a SAM policy name."""
    found = []
    for name, res in resources.items():
        for arn in res.get("Properties", {}).get("ManagedPolicyArns", []):
            text = str(resolve_sub(arn))
            if re.search(r"FullAccess|AdministratorAccess|PowerUserAccess", text):
                found.append(f"{name}: {text}")
    for name, res in t["Resources"].items():
        for policy in as_list(res.get("Properties", {}).get("Policies", [])):
            if isinstance(policy, str) and re.search(r"FullAccess|AdministratorAccess", policy):
                found.append(f"{name}: {policy}")
    return found


def identity_statements(resources: dict[str, dict[str, Any]]) -> Iterator[tuple[str, dict]]:
    for where, kind, document in policies(resources):
        if kind == "identity":
            for st in statements(document):
                yield where, st


def assume_role_violations(resources: dict[str, dict[str, Any]]) -> list[str]:
    """Only the TaskRole may sts:AssumeRole, and only the three deploy roles."""
    found = []
    for where, st in identity_statements(resources):
        actions = {a.lower() for a in as_list(st.get("Action", []))}
        if st["Effect"] != "Allow" or not actions & {"sts:assumerole", "sts:*", "*"}:
            continue
        if not where.startswith("TaskRole/"):
            found.append(f"{where}: sts:AssumeRole outside the TaskRole")
        targets = {str(r) for r in as_list(resolve(st.get("Resource", [])))}
        if not targets <= DEPLOY_ROLE_ARNS:
            found.append(f"{where}: assumes {sorted(targets - DEPLOY_ROLE_ARNS)}")
    return found


def least_privilege_violations(t: Template) -> list[str]:
    resources = transformed(t)
    found = full_access_violations(t, resources)
    for where, kind, document in policies(resources):
        if kind != "identity":
            continue
        found += [f"{where}: {v}" for v in wildcard_action_violations(document)]
        found += [f"{where}: {v}" for v in service_wildcard_violations(document)]
        found += [
            f"{where}: {v} on '*'"
            for v in resource_star_violations(document, RESOURCE_STAR_ALLOWED)
        ]
    return found + assume_role_violations(resources)


# --------------------------------------------------------------------------- rules
CHECKERS: dict[str, Callable[[Template], list[str]]] = {
    "section-order": section_order_violations,
    "parameters": parameter_violations,
    "globals": globals_violations,
    "state-machines": state_machine_violations,
    "environment": lambda t: environment_violations(t, handler_reads()),
    "handlers": handler_violations,
    "least-privilege": least_privilege_violations,
}


@pytest.mark.parametrize("checker", CHECKERS.values(), ids=CHECKERS.keys())
def test_template_rule_no_violations(checker: Callable[[Template], list[str]]) -> None:
    assert checker(template()) == []


def test_template_transform_expands_every_function_policy() -> None:
    # The policy walk sees SAM's generated roles (a walk of the raw template would not).
    resources = _transformed_repo()
    roles = {n for n, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert {"TaskRole", "DeployStateMachineRole", "ReaperFunctionRole"} <= roles
    walked = {where.split("/")[0] for where, _, _ in policies(resources)}
    assert roles <= walked


def _assume_grant() -> Any:
    resources = _transformed_repo()
    grants = [
        st
        for where, st in identity_statements(resources)
        if where.startswith("TaskRole/") and "sts:AssumeRole" in as_list(st["Action"])
    ]
    assert len(grants) == 1
    return grants[0]["Resource"]


def test_task_role_without_deploy_account_ids_assumes_the_three_deploy_roles() -> None:
    assert set(resolve(_assume_grant())) == DEPLOY_ROLE_ARNS


@pytest.mark.parametrize("count", [1, 2, 5, 10])
def test_task_role_assumes_exactly_the_deploy_roles_of_deploy_account_ids(count: int) -> None:
    accounts = [f"{n:012d}" for n in range(500000000000, 500000000000 + count)]

    granted = resolve(_assume_grant(), DeployAccountIds=",".join(accounts))

    assert len(granted) == 10  # every slot holds a real deploy role (padding repeats one)
    assert set(granted) == {f"arn:aws:iam::{a}:role/StackRelayDeployRole" for a in accounts}


def test_deploy_account_ids_reach_the_functions_and_the_completion_bus() -> None:
    t = _loaded()
    variable = t["Globals"]["Function"]["Environment"]["Variables"]["DEPLOY_ACCOUNT_IDS"]
    bus = t["Resources"]["CompletionBus"]["Properties"]["Policy"]["Statement"][0]
    ids = "555555555555,666666666666"

    assert resolve(variable, DeployAccountIds=ids) == ids
    assert resolve(variable) == "222222222222,333333333333,444444444444"
    assert resolve(bus["Principal"]["AWS"], DeployAccountIds=ids) == ids.split(",")


def test_handler_reads_found_the_shared_configuration() -> None:
    # The scan is not vacuous: config.py's need("...") names and a task's own variable count.
    reads = handler_reads()
    assert {"TARGET_REGION", "TABLE_NAME", "TOPOLOGY"} <= reads["stackrelay/config.py"]
    assert "TEARDOWN_STATE_MACHINE_ARN" in reads["stackrelay/tasks/reaper.py"]


@pytest.mark.parametrize("action", sorted(RESOURCE_STAR_ALLOWED))
def test_resource_star_allowed_action_has_no_resource_level_permissions(action: str) -> None:
    # cfn-lint ships IAM's action data; an action with resource types must be scoped.
    resource_types = iam_action_resource_types(action)
    assert resource_types is not None, f"{action} is not an IAM action"
    assert resource_types == []


# --------------------------------------------------------------------------- planted
def _fn(t: Template, name: str = "PlanFunction") -> dict[str, Any]:
    return t["Resources"][name]["Properties"]


def _sm(t: Template, name: str = "DeployStateMachine") -> dict[str, Any]:
    return t["Resources"][name]["Properties"]


def _move_globals_last(t: Template) -> None:
    t["Globals"] = t.pop("Globals")


def _drop_outputs(t: Template) -> None:
    t.pop("Outputs")


def _undescribed_parameter(t: Template) -> None:
    t["Parameters"]["DevAccountId"].pop("Description")


def _unconstrained_parameter(t: Template) -> None:
    t["Parameters"]["DevAccountId"].pop("AllowedPattern")


def _unbounded_number(t: Template) -> None:
    t["Parameters"]["PollMinSeconds"].pop("MaxValue")


def _function_repeats_runtime(t: Template) -> None:
    _fn(t)["Runtime"] = "python3.12"


def _function_repeats_powertools(t: Template) -> None:
    _fn(t).setdefault("Environment", {"Variables": {}})["Variables"]["POWERTOOLS_LOG_LEVEL"] = (
        "DEBUG"
    )


def _globals_without_tracing(t: Template) -> None:
    t["Globals"]["Function"].pop("Tracing")


def _inline_definition(t: Template) -> None:
    props = _sm(t)
    props.pop("DefinitionUri")
    props["DefinitionString"] = '{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}'


def _tracing_off(t: Template) -> None:
    _sm(t, "RecoverStateMachine")["Tracing"]["Enabled"] = False


def _log_group_without_retention(t: Template) -> None:
    t["Resources"]["TeardownLogGroup"]["Properties"].pop("RetentionInDays")


def _no_logging(t: Template) -> None:
    _sm(t).pop("Logging")


def _global_variable_removed(t: Template) -> None:
    t["Globals"]["Function"]["Environment"]["Variables"].pop("TABLE_NAME")


def _task_variable_moved_to_other_function(t: Template) -> None:
    arn = function_variables(t, "ReaperFunction").pop("TEARDOWN_STATE_MACHINE_ARN")
    _fn(t).setdefault("Environment", {"Variables": {}})["Variables"][
        "TEARDOWN_STATE_MACHINE_ARN"
    ] = arn


def _missing_handler_module(t: Template) -> None:
    _fn(t)["Handler"] = "stackrelay.tasks.no_such_module.lambda_handler"


def _handler_module_without_function(t: Template) -> None:
    t["Resources"].pop("LockJanitorFunction")


def _action_star(t: Template) -> None:
    _fn(t)["Policies"] = [{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}]


def _service_star_scoped(t: Template) -> None:
    statement = {
        "Effect": "Allow",
        "Action": "dynamodb:*",
        "Resource": {"Fn::GetAtt": ["Table", "Arn"]},
    }
    _fn(t)["Policies"] = [{"Statement": [statement]}]


def _full_access_policy(t: Template) -> None:
    _fn(t)["Policies"] = ["AWSStepFunctionsFullAccess"]


def _full_access_managed_arn(t: Template) -> None:
    arns = t["Resources"]["TaskRole"]["Properties"]["ManagedPolicyArns"]
    arns.append({"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonS3FullAccess"})


def _resource_star_scoped_action(t: Template) -> None:
    statement = {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}
    _fn(t)["Policies"] = [{"Statement": [statement]}]


def _assume_any_role(t: Template) -> None:
    policy = t["Resources"]["TaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    grant = policy["Statement"][0]["Resource"]["Fn::If"]  # [condition, with ids, without]
    grant[2].append({"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/*"})


def _assume_role_outside_task_role(t: Template) -> None:
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Resource": {
            "Fn::Sub": "arn:${AWS::Partition}:iam::${ProdAccountId}:role/${DeployRoleName}"
        },
    }
    _fn(t)["Policies"] = [{"Statement": [statement]}]


PLANTED: list[tuple[str, Callable[[Template], None]]] = [
    ("section-order", _move_globals_last),
    ("section-order", _drop_outputs),
    ("parameters", _undescribed_parameter),
    ("parameters", _unconstrained_parameter),
    ("parameters", _unbounded_number),
    ("globals", _function_repeats_runtime),
    ("globals", _function_repeats_powertools),
    ("globals", _globals_without_tracing),
    ("state-machines", _inline_definition),
    ("state-machines", _tracing_off),
    ("state-machines", _log_group_without_retention),
    ("state-machines", _no_logging),
    ("environment", _global_variable_removed),
    ("environment", _task_variable_moved_to_other_function),
    ("handlers", _missing_handler_module),
    ("handlers", _handler_module_without_function),
    ("least-privilege", _action_star),
    ("least-privilege", _service_star_scoped),
    ("least-privilege", _full_access_policy),
    ("least-privilege", _full_access_managed_arn),
    ("least-privilege", _resource_star_scoped_action),
    ("least-privilege", _assume_any_role),
    ("least-privilege", _assume_role_outside_task_role),
]


@pytest.mark.parametrize(
    ("rule", "plant"), PLANTED, ids=[f"{r}-{p.__name__.lstrip('_')}" for r, p in PLANTED]
)
def test_template_checker_planted_violation_detected(
    rule: str, plant: Callable[[Template], None]
) -> None:
    # Given a copy of template.yaml with one planted violation, that rule's checker reports it.
    planted = template()
    plant(planted)
    assert CHECKERS[rule](planted) != []


def test_environment_checker_planted_handler_read_detected() -> None:
    # Given a handler that starts reading a variable nobody sets, the checker reports it.
    reads = handler_reads()
    reads["stackrelay/tasks/plan.py"] = reads["stackrelay/tasks/plan.py"] | {"NEW_SETTING"}
    found = environment_violations(template(), reads)
    assert found == ["stackrelay/tasks/plan.py reads NEW_SETTING, not set in template.yaml"]


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ('import os\nX = os.environ.get("A_B")', {"A_B"}),
        ('import os\nX = os.environ["C"]', {"C"}),
        ('import os\nX = os.getenv("D", "1")', {"D"}),
        ('def f(env):\n    return env.get("E"), need("F")', {"E", "F"}),
        ('d = {}\nX = d.get("NOT_ENV")', set()),
    ],
    ids=["environ-get", "environ-item", "getenv", "env-and-need", "other-dict"],
)
def test_read_variables_source_patterns_found(source: str, names: set[str]) -> None:
    assert read_variables(source) == names
