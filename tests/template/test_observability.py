"""template.yaml observability rules (issue #15): alarms reach someone, logs expire.

- every alarm has actions, and they notify the people's SNS topic;
- every log group has a retention (the LogRetentionDays parameter), every function
  logs to one (Globals LoggingConfig) and every state machine logs to one;
- every state machine's failed, timed-out and aborted executions are alarmed;
- every function's Errors and Throttles are alarmed;
- the GitLab reporter's failure metric (/work/coord/METRICS.md contract) is alarmed.

Each checker also runs on a copy of the template with a planted violation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from policy_helpers import ROOT, load_cfn

TEMPLATE = ROOT / "template.yaml"
TOPIC = "NotificationTopic"
EXECUTION_METRICS = {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}


@cache
def _template() -> dict[str, Any]:
    return load_cfn(TEMPLATE)


def template() -> dict[str, Any]:
    return copy.deepcopy(_template())


def of_type(t: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in t["Resources"].items() if r["Type"] == kind}


def _refs(value: Any) -> set[str]:
    """Every resource a value names with Ref, GetAtt or ${X} in a Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(str(value["Ref"]))
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            found.add(str(target[0] if isinstance(target, list) else target.split(".")[0]))
        for v in value.values():
            found |= _refs(v)
    elif isinstance(value, list):
        for v in value:
            found |= _refs(v)
    return found


def _alarm_metrics(alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric name, {dimension: value}) of a plain or metric-math alarm."""
    props = alarm["Properties"]
    stats = [q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q]
    if "MetricName" in props:
        stats.append(props)
    return [
        (
            m["Namespace"],
            m["MetricName"],
            {d["Name"]: d["Value"] for d in m.get("Dimensions", [])},
        )
        for m in stats
    ]


# -- checkers: each returns findings, empty when the template is clean -----------------


def alarms_without_actions(t: dict[str, Any]) -> list[str]:
    bad = []
    for name, alarm in of_type(t, "AWS::CloudWatch::Alarm").items():
        actions = alarm["Properties"].get("AlarmActions") or []
        if TOPIC not in _refs(actions):
            bad.append(f"{name}: AlarmActions do not notify {TOPIC}")
    return bad


def log_groups_without_retention(t: dict[str, Any]) -> list[str]:
    bad = []
    for name, group in of_type(t, "AWS::Logs::LogGroup").items():
        if group["Properties"].get("RetentionInDays") != {"Ref": "LogRetentionDays"}:
            bad.append(f"{name}: RetentionInDays is not the LogRetentionDays parameter")
    return bad


def things_without_log_groups(t: dict[str, Any]) -> list[str]:
    groups = set(of_type(t, "AWS::Logs::LogGroup"))
    bad = []
    default = (t.get("Globals", {}).get("Function", {}).get("LoggingConfig") or {}).get("LogGroup")
    for name, fn in of_type(t, "AWS::Serverless::Function").items():
        config = fn["Properties"].get("LoggingConfig", {}).get("LogGroup", default)
        if not (_refs(config) & groups):
            bad.append(f"{name}: logs to no log group of this template (LoggingConfig)")
    for name, sm in of_type(t, "AWS::Serverless::StateMachine").items():
        logging = sm["Properties"].get("Logging") or {}
        if not (_refs(logging.get("Destinations")) & groups):
            bad.append(f"{name}: Logging has no log group of this template")
    return bad


def state_machines_without_alarms(t: dict[str, Any]) -> list[str]:
    covered: dict[str, set[str]] = {}
    for alarm in of_type(t, "AWS::CloudWatch::Alarm").values():
        for namespace, metric, dims in _alarm_metrics(alarm):
            if namespace == "AWS/States":
                for target in _refs(dims.get("StateMachineArn")):
                    covered.setdefault(target, set()).add(metric)
    bad = []
    for name in of_type(t, "AWS::Serverless::StateMachine"):
        missing = EXECUTION_METRICS - covered.get(name, set())
        if missing:
            bad.append(f"{name}: no alarm on {sorted(missing)}")
    return bad


def functions_without_alarms(t: dict[str, Any]) -> list[str]:
    covered: dict[str, set[str]] = {}
    for alarm in of_type(t, "AWS::CloudWatch::Alarm").values():
        for namespace, metric, dims in _alarm_metrics(alarm):
            if namespace == "AWS/Lambda":
                for target in _refs(dims.get("FunctionName")):
                    covered.setdefault(target, set()).add(metric)
    bad = []
    for name in of_type(t, "AWS::Serverless::Function"):
        missing = {"Errors", "Throttles"} - covered.get(name, set())
        if missing:
            bad.append(f"{name}: no alarm on {sorted(missing)}")
    return bad


def reporter_failures_not_alarmed(t: dict[str, Any]) -> list[str]:
    for alarm in of_type(t, "AWS::CloudWatch::Alarm").values():
        for namespace, metric, dims in _alarm_metrics(alarm):
            if (namespace, metric) == ("StackRelay", "GitLabReportFailures"):
                if dims == {"service": "stackrelay"}:
                    return []
                return [f"GitLabReportFailures alarm has dimensions {dims}, not service only"]
    return ["no alarm on StackRelay/GitLabReportFailures (METRICS.md)"]


CHECKERS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "alarms_without_actions": alarms_without_actions,
    "log_groups_without_retention": log_groups_without_retention,
    "things_without_log_groups": things_without_log_groups,
    "state_machines_without_alarms": state_machines_without_alarms,
    "functions_without_alarms": functions_without_alarms,
    "reporter_failures_not_alarmed": reporter_failures_not_alarmed,
}


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_template_is_clean(name: str) -> None:
    assert CHECKERS[name](template()) == []


def _first(t: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(iter(of_type(t, kind).values()))


def _plant_no_actions(t: dict[str, Any]) -> None:
    _first(t, "AWS::CloudWatch::Alarm")["Properties"].pop("AlarmActions")


def _plant_no_retention(t: dict[str, Any]) -> None:
    _first(t, "AWS::Logs::LogGroup")["Properties"].pop("RetentionInDays")


def _plant_function_without_logs(t: dict[str, Any]) -> None:
    t["Globals"]["Function"].pop("LoggingConfig")


def _plant_unalarmed_state_machine(t: dict[str, Any]) -> None:
    t["Resources"]["ExtraStateMachine"] = copy.deepcopy(_first(t, "AWS::Serverless::StateMachine"))


def _plant_unalarmed_function(t: dict[str, Any]) -> None:
    t["Resources"]["ExtraFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {"Handler": "stackrelay.tasks.plan.lambda_handler"},
    }


def _plant_reporter_alarm_dimension(t: dict[str, Any]) -> None:
    for alarm in of_type(t, "AWS::CloudWatch::Alarm").values():
        if alarm["Properties"].get("MetricName") == "GitLabReportFailures":
            alarm["Properties"]["Dimensions"].append({"Name": "App", "Value": "x"})


PLANTS = {
    "alarms_without_actions": _plant_no_actions,
    "log_groups_without_retention": _plant_no_retention,
    "things_without_log_groups": _plant_function_without_logs,
    "state_machines_without_alarms": _plant_unalarmed_state_machine,
    "functions_without_alarms": _plant_unalarmed_function,
    "reporter_failures_not_alarmed": _plant_reporter_alarm_dimension,
}


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_checker_finds_a_planted_violation(name: str) -> None:
    t = template()
    PLANTS[name](t)
    assert CHECKERS[name](t), f"{name} missed its planted violation"


def test_every_stackrelay_event_type_people_need_reaches_the_notifier() -> None:
    from stackrelay import events

    fn = template()["Resources"]["NotifyFunction"]["Properties"]
    routed: set[str] = set()
    for rule in fn["Events"].values():
        assert rule["Type"] == "EventBridgeRule"
        assert _refs(rule["Properties"]["EventBusName"]) == {"EventBus"}
        routed |= set(rule["Properties"]["Pattern"]["detail-type"])
    assert routed <= set(events.DETAIL_TYPES)
    for needed in ("Approval Requested", "Approval Expired", "Stage Failed", "Stage Rolled Back"):
        assert needed in routed
