"""Every moto internal the local engine patches or reads, in one place.

moto is pinned (5.2.5) but its internals move between releases. Each seam
below names the dotted path it relies on and why; ``tests/engine/test_seams.py``
resolves all of them and fails naming the seam when moto changes. Nothing
else in ``stackrelay_local`` imports moto internals: it goes through the
helpers here.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import threading
import time as _real_time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlparse

if TYPE_CHECKING:
    from stackrelay_local.runtime import Runtime

MOTO_VERSION = "5.2.5"
_SLICE = 0.005  # real seconds between checks of the simulated deadline


@dataclass(frozen=True)
class Seam:
    path: str  # "module:attr.attr"
    why: str
    params: tuple[str, ...] | None = None  # expected positional parameter names

    def resolve(self) -> Any:
        module_name, _, attr_path = self.path.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
            for part in attr_path.split(".") if attr_path else []:
                target = getattr(target, part)
        except (ImportError, AttributeError) as exc:
            raise SeamMissing(
                f"moto seam {self.path} is gone ({exc}); needed because: {self.why}"
            ) from exc
        if self.params is not None:
            found = tuple(inspect.signature(target).parameters)
            if found[: len(self.params)] != self.params:
                raise SeamMissing(
                    f"moto seam {self.path} changed signature {found} (expected {self.params}); "
                    f"needed because: {self.why}"
                )
        return target


class SeamMissing(RuntimeError):
    """moto moved an internal the engine depends on."""


_SFN = "moto.stepfunctions.parser.asl"
SEAMS: dict[str, Seam] = {
    "lambda_invoke": Seam(
        "moto.awslambda.models:LambdaFunction._invoke_lambda",
        "the one place moto starts a function (boto3 invoke and every Step Functions "
        "Lambda path); we run the real handler in-process there",
        ("self", "event"),
    ),
    "lambda_function_attrs": Seam(
        "moto.awslambda.models:LambdaFunction",
        "read: function_name, handler, code (S3Bucket/S3Key), code_bytes, environment_vars, "
        "timeout, memory_size, function_arn, account_id, region",
    ),
    "wait_interval": Seam(
        f"{_SFN}.component.state.wait.wait_function.wait_function:WaitFunction._wait_interval",
        "Wait states really sleep; we advance the simulated clock instead",
        ("self", "env", "wait_seconds"),
    ),
    "retrier_time": Seam(
        f"{_SFN}.component.common.retry.retrier_decl:time",
        "Retry back-off calls time.sleep(interval) in this module; we swap its `time`",
    ),
    "wait_for_task_token": Seam(
        f"{_SFN}.component.state.exec.state_task.service.state_task_service_callback:"
        "StateTaskServiceCallback._eval_wait_for_task_token",
        "where an execution parks on a .waitForTaskToken callback: we record it (wait_parked, "
        "drain at stop); reads env.states.context_object.context_object_data (Execution.Id, "
        "State.Name)",
        ("self", "env", "timeout_seconds", "callback_endpoint", "heartbeat_endpoint"),
    ),
    "callback_wait": Seam(
        f"{_SFN}.eval.callback.callback:CallbackEndpoint.wait",
        "callback TimeoutSeconds is a real-time Event.wait; we make it follow the simulated "
        "clock (reads callback_id, _notify_event, _outcome)",
        ("self", "timeout"),
    ),
    "heartbeat_wait": Seam(
        f"{_SFN}.eval.callback.callback:HeartbeatEndpoint.clear_and_wait",
        "HeartbeatSeconds is a real-time Event.wait; simulated instead (reads _mutex, "
        "_next_heartbeat_event, _heartbeat_seconds)",
        ("self",),
    ),
    "call_action": Seam(
        "moto.core.responses:BaseResponse.call_action",
        "every API call of every service passes here: throttling faults and settling "
        "CloudFormation operations before a read",
        ("self",),
    ),
    "cfn_response": Seam(
        "moto.cloudformation.responses:CloudFormationResponse",
        "CreateChangeSet/ExecuteChangeSet/CreateStack/UpdateStack/DeleteStack/GetTemplate/"
        "DescribeStackEvents/ContinueUpdateRollback are replaced by the realism layer; "
        "reads _get_param, _get_bool_param, current_account, region, cloudformation_backend",
    ),
    "cfn_backend": Seam(
        "moto.cloudformation.models:cloudformation_backends",
        "read/write: backend.stacks, change_sets, deleted_stacks, create_change_set(), "
        "execute_change_set(), delete_stack(), create_stack() (nested stacks)",
    ),
    "cfn_stack": Seam(
        "moto.cloudformation.models:Stack",
        "write: status, events, template, creation_time; call _parse_template(), "
        "_create_output_map() so change-set stacks get Outputs; "
        "read resource_map._parsed_resources",
    ),
    "cfn_stack_parse_template": Seam(
        "moto.cloudformation.models:Stack.parse_template",
        "moto reads every template with PyYAML's pure-Python full Loader, even JSON (a third "
        "of a bootstrap's CPU): the engine's templates are JSON, so we read JSON first",
        ("template",),
    ),
    "cfn_change_set_parse_template": Seam(
        "moto.cloudformation.models:ChangeSet._parse_template",
        "as cfn_stack_parse_template, for a change set (writes template_dict)",
        ("self",),
    ),
    "asl_parse": Seam(
        f"{_SFN}.parse.asl_parser:AmazonStateLanguageParser.parse",
        "moto lexes and parses the whole ASL with antlr on create_state_machine and again at "
        "the start of every execution (most of a review deploy's CPU): we keep the parse tree "
        "per definition text and build each execution's program from it",
        ("definition",),
    ),
    "asl_preprocessor": Seam(
        f"{_SFN}.parse.preprocessor:Preprocessor",
        "builds an execution's evaluation components from a parse tree (a fresh one per use, "
        "so executions share no component)",
    ),
    "antlr_rule_text": Seam(
        "antlr4.RuleContext:RuleContext.getText",
        "moto's Preprocessor reads the text of parse-tree nodes over and over (it joins every "
        "descendant's text anew each time); for cached ASL trees we answer from a table",
        ("self",),
    ),
    "antlr_terminal_text": Seam(
        "antlr4.tree.Tree:TerminalNodeImpl.getText",
        "as antlr_rule_text, for a token's node (its class: antlr4.tree.Tree:TerminalNodeImpl)",
        ("self",),
    ),
    "cfn_event": Seam(
        "moto.cloudformation.models:Event",
        "stack events we add on the simulated timeline (timestamp overwritten)",
        (
            "stack_id",
            "stack_name",
            "logical_resource_id",
            "physical_resource_id",
            "resource_type",
            "resource_status",
            "resource_status_reason",
            "resource_properties",
        ),
    ),
    "cfn_exceptions": Seam(
        "moto.cloudformation.exceptions:ValidationError",
        "AWS-shaped ValidationError (AlreadyExistsException lives beside it)",
    ),
    "cfn_already_exists": Seam(
        "moto.cloudformation.exceptions:AlreadyExistsException", "CREATE for an existing stack"
    ),
    "service_exception": Seam(
        "moto.core.exceptions:ServiceException",
        "serialisable error base for InvalidChangeSetStatus, ChangeSetNotFound, Throttling",
    ),
    "state_machine_cfn": Seam(
        "moto.stepfunctions.models:StateMachine.create_from_cloudformation_json",
        "AWS::StepFunctions::StateMachine ignores DefinitionSubstitutions; we resolve them",
        ("resource_name", "cloudformation_json", "account_id", "region_name"),
    ),
    "state_machine_cfn_update": Seam(
        "moto.stepfunctions.models:StateMachine.update_from_cloudformation_json",
        "same as state_machine_cfn, on update",
        (
            "original_resource",
            "new_resource_name",
            "cloudformation_json",
            "account_id",
            "region_name",
        ),
    ),
    "sfn_models_backends": Seam(
        "moto.stepfunctions.models:stepfunctions_backends",
        "AWS::StepFunctions::StateMachine creates its machine here, but with execute_state_machine "
        "the API serves stepfunctions_parser_backends: we point the CFN handlers at the latter",
    ),
    "sfn_history_response": Seam(
        "moto.stepfunctions.responses:StepFunctionResponse.get_execution_history",
        "moto deep-copies and serialises an execution's whole history on every call and "
        "ignores maxResults/nextToken/reverseOrder: we serve pages (as AWS does) from a "
        "shallow read; reads stepfunction_backend.describe_execution(arn).exec_worker.env",
        ("self",),
    ),
    "sfn_event_manager": Seam(
        f"{_SFN}.eval.event.event_manager:EventManager.add_event",
        "every history event passes here: we count it and wake whoever waits for progress "
        "(the CLI following a local execution); reads _mutex, _history_event_list",
        ("self", "context", "event_type"),
    ),
    "sfn_parser_backends": Seam(
        "moto.stepfunctions.parser.models:stepfunctions_parser_backends",
        "the backend the Step Functions API uses when the ASL interpreter is on",
    ),
    "rest_api_cfn": Seam(
        "moto.apigateway.models:RestAPI.create_from_cloudformation_json",
        "AWS::ApiGateway::RestApi ignores its OpenAPI Body, so the Deployment SAM adds for an "
        "Api event fails ('no methods'); we import the Body's paths after creation",
        ("resource_name", "cloudformation_json", "account_id", "region_name"),
    ),
    "apigateway_backends": Seam(
        "moto.apigateway.models:apigateway_backends",
        "put_rest_api(id, doc, fail_on_warnings, mode) imports the Body's paths and methods",
    ),
    "s3_backends": Seam(
        "moto.s3.models:s3_backends",
        "read template and definition objects (TemplateURL, DefinitionS3Location) in any account",
    ),
    "camelcase": Seam(
        "moto.core.utils:camelcase_to_underscores",
        "the response method name moto dispatches an action to (throttling replaces it)",
    ),
    "logs_backends": Seam(
        "moto.logs.models:logs_backends",
        "handlers' output goes to CloudWatch Logs (/aws/lambda/<name>), as on AWS",
    ),
    "cfn_generate_name": Seam(
        "moto.cloudformation.parsing:generate_resource_name",
        "physical names of unnamed resources: we apply CloudFormation's truncation and suffix "
        "rules (provisioning.generated_name)",
        ("resource_type", "stack_name", "logical_id"),
    ),
    "cfn_parse_named": Seam(
        "moto.cloudformation.parsing:parse_resource_and_generate_name",
        "returns None for a type moto cannot create (it then skips it silently); we fail the "
        "resource instead, and check the execution role's IAM with the resolved properties "
        "and the stack's tags (ResourceMap.tags, _account_id, _region_name)",
        ("logical_id", "resource_json", "resources_map"),
    ),
    "cfn_parse_create": Seam(
        "moto.cloudformation.parsing:parse_and_create_resource",
        "creating one resource: any error is blamed on this logical id (AWS's CREATE_FAILED)",
        ("logical_id", "resource_json", "resources_map", "account_id", "region_name"),
    ),
    "cfn_parse_update": Seam(
        "moto.cloudformation.parsing:parse_and_update_resource",
        "updating one resource: errors blamed on it; IAM checked with update calls",
        ("logical_id", "resource_json", "resources_map", "account_id", "region_name"),
    ),
    "cfn_model_map": Seam(
        "moto.cloudformation.parsing:get_model_map",
        "lru-cached dict type -> model class; we add emulated.py's classes for the engine's life",
    ),
    "cfn_null_models": Seam(
        "moto.cloudformation.parsing:NULL_MODELS",
        "types moto deliberately creates nothing for (wait conditions): not a gap",
    ),
    "resource_map_attrs": Seam(
        "moto.cloudformation.parsing:ResourceMap",
        "read: _account_id, _region_name, ['AWS::StackName'] of the map being built",
    ),
    "iam_backends": Seam(
        "moto.iam.models:iam_backends",
        "the execution role's inline (policies) and attached (managed_policies -> versions, "
        "is_default, document) policies and permissions_boundary_arn, per account",
    ),
    "apigatewayv2_backends": Seam(
        "moto.apigatewayv2.models:apigatewayv2_backends",
        "emulated AWS::ApiGatewayV2::*: create_api, reimport_api, create_stage/route/integration",
    ),
    "cloudwatch_backends": Seam(
        "moto.cloudwatch.models:cloudwatch_backends",
        "emulated AWS::CloudWatch::Alarm: put_metric_alarm, delete_alarms",
    ),
    "s3_get_object": Seam(
        "moto.s3.responses:S3Response.get_object",
        "S3 does not dispatch through BaseResponse.call_action: throttling faults on GetObject "
        "hook here (reads current_account)",
        ("self",),
    ),
    "s3_client_error": Seam(
        "moto.s3.exceptions:S3ClientError",
        "S3's serialisable error (SlowDown for throttling faults)",
    ),
    "events_send_to_targets": Seam(
        "moto.events.models:Rule.send_to_targets",
        "moto delivers only to logs/SQS/archives/API destinations/buses (losing the sender "
        "account) and raises NotImplementedError for Lambda, SNS and Step Functions targets; "
        "we deliver asynchronously on the simulated clock (stackrelay_local.events). Reads "
        "Rule.state, scheduled_expression, event_pattern.matches_event(), targets, "
        "account_id, arn",
        ("self", "original_event", "transform_input"),
    ),
    "events_bus_cfn": Seam(
        "moto.events.models:EventBus.create_from_cloudformation_json",
        "AWS::Events::EventBus ignores its Policy property, so a bus made by CloudFormation "
        "admits no other account; we apply the policy (moto's update re-creates through here)",
        ("resource_name", "cloudformation_json", "account_id", "region_name"),
    ),
    "events_backends": Seam(
        "moto.events.models:events_backends",
        "read: backend.event_buses[name].rules / .policy / .arn, to put AWS service events on "
        "default buses and forward to buses in other accounts",
    ),
    "events_input_transformer": Seam(
        "moto.events.utils:EventTemplateParser.parse",
        "InputTransformer for the targets we deliver to",
        ("input_template", "input_paths_map", "event"),
    ),
    "lambda_backend": Seam(
        "moto.awslambda.utils:get_backend",
        "Lambda targets: get_function(name, qualifier), .policy.statements, _invoke_lambda",
        ("account_id", "region"),
    ),
    "sns_backends": Seam(
        "moto.sns.models:sns_backends",
        "SNS targets: get_topic(arn), publish(message=, arn=) (moto then delivers to SQS and "
        "Lambda subscriptions)",
    ),
    "sqs_backends": Seam(
        "moto.sqs.models:sqs_backends",
        "SQS targets: queues, get_queue_attributes(), send_message() (moto's own EventBridge "
        "delivery drops the event's account field)",
    ),
    "sfn_send_task_failure": Seam(
        "moto.stepfunctions.responses:StepFunctionResponse.send_task_failure",
        "moto drops SendTaskFailure's cause (the Catch then sees Cause: null); we pass it on "
        "(reads _get_param, stepfunction_backend.send_task_failure(token, error=, cause=))",
        ("self",),
    ),
    "sfn_execution_start": Seam(
        "moto.stepfunctions.parser.backend.execution:Execution.start",
        "an execution starts: we emit its RUNNING status change event (reads exec_arn, "
        "state_machine_arn, name, input_data, account_id, region_name)",
        ("self",),
    ),
    "sfn_execution_terminated": Seam(
        "moto.stepfunctions.parser.backend.execution:BaseExecutionWorkerCommunication.terminated",
        "an execution ends: we emit its SUCCEEDED/FAILED/TIMED_OUT/ABORTED status change event "
        "(reads self.execution.exec_status, output, error, cause)",
        ("self",),
    ),
    "lambda_s3_code": Seam(
        "moto.awslambda.models:_validate_s3_bucket_and_key",
        "where moto reads a function's or layer's S3 code; it ignores S3ObjectVersion "
        "(AWS reads exactly that version), so we pass it on, and its S3 is global: AWS "
        "reads code only from a bucket in the function's (layer's) own region, so we refuse "
        "another region's bucket with AWS's PermanentRedirect (the region is the caller's: "
        "LayerVersion.__init__'s `region`, LambdaFunction._set_function_code's self.region)",
        ("account_id", "partition", "data"),
    ),
    "bucket_cfn": Seam(
        "moto.s3.models:FakeBucket.create_from_cloudformation_json",
        "moto's AWS::S3::Bucket ignores VersioningConfiguration; the artifact bucket is "
        "versioned (setup/artifact-bucket.yaml) and publish pins objects by version. It also "
        "raises KeyError on an encryption rule without ServerSideEncryptionByDefault",
    ),
    "bucket_cfn_update": Seam(
        "moto.s3.models:FakeBucket.update_from_cloudformation_json",
        "same, when a stack update turns versioning on",
    ),
    "nested_stack_cfn": Seam(
        "moto.cloudformation.models:Stack.create_from_cloudformation_json",
        "moto creates a nested stack (AWS::CloudFormation::Stack, what SAM makes of an "
        "AWS::Serverless::Application) from the latest object at TemplateURL, as written: "
        "we read the pinned version and process it as CloudFormation would (the SAM "
        "transform); moto's update deletes and re-creates through here",
        ("resource_name", "cloudformation_json", "account_id", "region_name"),
    ),
    "threaded_server": Seam(
        "moto.moto_server.threaded_moto_server:ThreadedMotoServer",
        "an HTTP endpoint into the in-process engine (same backends as mock_aws) for "
        "the SAM CLI's `sam package`, which runs in another process",
    ),
    "default_account": Seam("moto.core:DEFAULT_ACCOUNT_ID", "moto's default account id"),
    "user_config": Seam(
        "moto.core.config:default_user_config",
        "server mode: enable execute_state_machine without mock_aws",
    ),
    "server_app": Seam(
        "moto.moto_server.werkzeug_app:DomainDispatcherApplication",
        "server mode: moto's WSGI app we put our control surface in front of",
    ),
    "server_backend_app": Seam("moto.moto_server.werkzeug_app:create_backend_app", "server mode"),
    "server_handler": Seam(
        "moto.moto_server.threaded_moto_server:MotoRequestHandler", "server mode request handler"
    ),
}


def resolve(name: str) -> Any:
    return SEAMS[name].resolve()


def check_all() -> list[str]:
    """Names of seams that no longer resolve (empty when moto is as expected)."""
    broken = []
    for name, seam in SEAMS.items():
        try:
            seam.resolve()
        except SeamMissing:
            broken.append(name)
    return broken


# ---------------------------------------------------------------------------
# Patching
# ---------------------------------------------------------------------------
class Patcher:
    """Sets attributes and puts every original back on ``undo()``."""

    def __init__(self) -> None:
        self._undo: list[tuple[Any, ...]] = []

    def set(self, owner: Any, attr: str, value: Any) -> None:
        had = attr in vars(owner)
        self._undo.append((owner, attr, vars(owner).get(attr), had))
        setattr(owner, attr, value)

    def set_item(self, mapping: dict[Any, Any], key: Any, value: Any) -> None:
        self._undo.append((mapping, key, mapping.get(key), key in mapping, True))  # type: ignore[arg-type]
        mapping[key] = value

    def undo(self) -> None:
        while self._undo:
            entry = self._undo.pop()
            if len(entry) == 5:
                mapping, key, original, had, _ = entry  # type: ignore[misc]
                if had:
                    mapping[key] = original
                else:
                    mapping.pop(key, None)
                continue
            owner, attr, original, had = entry
            if had:
                setattr(owner, attr, original)
            else:
                delattr(owner, attr)


def _owner_and_attr(name: str) -> tuple[Any, str]:
    module_name, _, attr_path = SEAMS[name].path.partition(":")
    owner: Any = importlib.import_module(module_name)
    parts = attr_path.split(".")
    for part in parts[:-1]:
        owner = getattr(owner, part)
    return owner, parts[-1]


class _SimulatedTime:
    """Stands in for the ``time`` module where moto sleeps for back-off."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def sleep(self, seconds: float) -> None:
        clock = self._runtime.clock
        clock.advance_to(clock.now() + float(seconds))

    def __getattr__(self, name: str) -> Any:
        return getattr(_real_time, name)


def install(runtime: Runtime) -> Patcher:
    """Apply every seam for ``runtime``; the returned Patcher undoes them."""
    for seam in SEAMS.values():
        seam.resolve()
    patcher = Patcher()
    clock = runtime.clock

    owner, attr = _owner_and_attr("lambda_invoke")

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        return runtime.lambda_runner.invoke(self, event)

    patcher.set(owner, attr, _invoke_lambda)

    owner, attr = _owner_and_attr("wait_interval")

    def _wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
        if wait_seconds > 0:
            clock.advance_to(clock.now() + float(wait_seconds))

    patcher.set(owner, attr, _wait_interval)

    owner, attr = _owner_and_attr("retrier_time")
    patcher.set(owner, attr, _SimulatedTime(runtime))

    owner, attr = _owner_and_attr("wait_for_task_token")
    original_park = getattr(owner, attr)

    def _eval_wait_for_task_token(
        self: Any, env: Any, timeout_seconds: Any, callback_endpoint: Any, heartbeat_endpoint: Any
    ) -> Any:
        context = env.states.context_object.context_object_data
        execution_arn = context["Execution"]["Id"]
        token = callback_endpoint.callback_id
        runtime.parked.add(execution_arn, token, str((context.get("State") or {}).get("Name", "")))
        try:
            return original_park(self, env, timeout_seconds, callback_endpoint, heartbeat_endpoint)
        finally:
            runtime.parked.remove(execution_arn, token)

    patcher.set(owner, attr, _eval_wait_for_task_token)

    owner, attr = _owner_and_attr("callback_wait")

    def _callback_wait(self: Any, timeout: float | None = None) -> Any:
        token = getattr(self, "callback_id", None)
        if token is not None and timeout is not None:
            runtime.parked.set_deadline(token, runtime.clock.now() + float(timeout))
        _wait_simulated(runtime, self._notify_event, timeout, sleep=True)
        return self._outcome

    patcher.set(owner, attr, _callback_wait)

    owner, attr = _owner_and_attr("heartbeat_wait")

    def _clear_and_wait(self: Any) -> bool:
        with self._mutex:
            if self._next_heartbeat_event.is_set():
                self._next_heartbeat_event.clear()
                return True
        return _wait_simulated(
            runtime, self._next_heartbeat_event, self._heartbeat_seconds, sleep=True
        )

    patcher.set(owner, attr, _clear_and_wait)

    _install_events(runtime, patcher)

    owner, attr = _owner_and_attr("call_action")
    original_call_action = getattr(owner, attr)

    def call_action(self: Any) -> Any:
        return runtime.on_api_call(self, original_call_action)

    patcher.set(owner, attr, call_action)

    owner, attr = _owner_and_attr("lambda_s3_code")
    original_s3_code = getattr(owner, attr)

    def _validate_s3_bucket_and_key(account_id: str, partition: str, data: dict[str, Any]) -> Any:
        _same_region_code(resolve("s3_backends")[account_id][partition], data, sys._getframe(1))
        version = data.get("S3ObjectVersion")
        if not version:
            return original_s3_code(account_id, partition, data)
        backend = resolve("s3_backends")[account_id][partition]
        key = backend.get_object(data["S3Bucket"], data["S3Key"], version_id=str(version))
        if key is None:
            raise _service_error(
                "InvalidParameterValueException",
                f"Error occurred while GetObject. S3 Error Code: NoSuchVersion. "
                f"s3://{data['S3Bucket']}/{data['S3Key']} has no version {version}",
            )
        return key

    patcher.set(owner, attr, _validate_s3_bucket_and_key)

    _install_bucket_versioning(patcher)
    _install_cfn_responses(runtime, patcher)
    _install_history(runtime, patcher)
    _install_state_machine_substitutions(patcher)
    _install_rest_api_body(patcher)
    _install_nested_stacks(patcher)
    _install_provisioning(runtime, patcher)
    _install_s3_faults(runtime, patcher)
    _install_template_json(patcher)
    _install_asl_parse_cache(patcher)
    owner, attr = _owner_and_attr("sfn_models_backends")
    patcher.set(owner, attr, resolve("sfn_parser_backends"))
    return patcher


def _same_region_code(backend: Any, data: dict[str, Any], caller: Any) -> None:
    """Refuse a function's or layer's S3 code in a bucket of another region, as AWS does
    (CreateFunction / PublishLayerVersion fail; moto's S3 is one global namespace)."""
    scope = caller.f_locals
    region = scope.get("region") or getattr(scope.get("self"), "region", None)
    bucket = backend.buckets.get(data.get("S3Bucket"))
    where = getattr(bucket, "region_name", None)
    if region and where and where != region:
        raise _service_error(
            "InvalidParameterValueException",
            "Error occurred while GetObject. S3 Error Code: PermanentRedirect. S3 Error "
            f"Message: The bucket is in this region: {where}. Please use this region to "
            "retry the request",
        )


def _wait_simulated(
    runtime: Runtime, event: threading.Event, timeout: float | None, sleep: bool = False
) -> bool:
    """Wait for ``event`` until a *simulated* deadline; True if it was set.

    ``sleep``: the waiter is an execution parked on a callback. Like a Wait
    state, it lets simulated time pass while the engine has something
    scheduled (a CloudFormation transition, an event delivery): up to that
    instant, or to its own deadline if that comes first. Never past an event
    nobody has handled yet, and never while nothing is scheduled: an approval
    nobody answers stays pending until a test or person moves the clock
    (``LocalEngine.wake_parked``).
    """
    deadline = None if timeout is None else runtime.clock.now() + float(timeout)
    while True:
        if event.wait(_SLICE):
            return True
        if runtime.stopping.is_set():
            return event.is_set()
        if deadline is not None and runtime.clock.now() >= deadline:
            return event.is_set()
        if sleep:
            wake = runtime.events.next_wakeup()
            if wake is not None:
                runtime.clock.advance_to(wake if deadline is None else min(wake, deadline))


Json = dict[str, Any]


def _wrap_cfn_create(
    patcher: Patcher,
    seam: str,
    before: Callable[[Json], Json] | None = None,
    after: Callable[[Any, Json, str, str], None] | None = None,
) -> None:
    """Wrap a model's ``create_from_cloudformation_json``: ``before`` rewrites the
    resource's template entry, ``after(resource, entry, account, region)`` completes it."""
    owner, attr = _owner_and_attr(seam)
    original = getattr(owner, attr).__func__

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        entry = before(cloudformation_json) if before else cloudformation_json
        resource = original(cls, resource_name, entry, account_id, region_name, **kwargs)
        if after:
            after(resource, entry, account_id, region_name)
        return resource

    patcher.set(owner, attr, classmethod(create_from_cloudformation_json))


def _wrap_cfn_update(
    patcher: Patcher,
    seam: str,
    before: Callable[[Json], Json] | None = None,
    after: Callable[[Any, Json, str, str], None] | None = None,
) -> None:
    """``_wrap_cfn_create`` for ``update_from_cloudformation_json``."""
    owner, attr = _owner_and_attr(seam)
    original = getattr(owner, attr).__func__

    def update_from_cloudformation_json(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        entry = before(cloudformation_json) if before else cloudformation_json
        resource = original(
            cls, original_resource, new_resource_name, entry, account_id, region_name
        )
        if after:
            after(resource, entry, account_id, region_name)
        return resource

    patcher.set(owner, attr, classmethod(update_from_cloudformation_json))


def _install_events(runtime: Runtime, patcher: Patcher) -> None:
    """EventBridge delivery and Step Functions status events (stackrelay_local.events)."""
    owner, attr = _owner_and_attr("events_send_to_targets")
    original_send = getattr(owner, attr)

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        event = dict(original_event)
        event["time"] = runtime.clock.now()  # moto stamps the wall clock
        runtime.events.send_to_targets(self, event)

    patcher.set(owner, attr, send_to_targets)
    runtime.events.start(original_send)

    def apply_bus_policy(bus: Any, entry: Json, account_id: str, region_name: str) -> None:
        policy = (entry.get("Properties") or {}).get("Policy")
        if isinstance(policy, str):
            policy = json.loads(policy)
        if isinstance(policy, dict):
            statements = policy.get("Statement") or []
            if isinstance(statements, dict):
                statements = [statements]
            policy = dict(
                policy,
                Statement=[
                    dict(st, Sid=st.get("Sid") or f"Statement{i}")
                    for i, st in enumerate(statements)
                ],
            )
            resolve("events_backends")[account_id][region_name].put_permission(
                bus.name, None, None, None, None, json.dumps(policy)
            )

    _wrap_cfn_create(patcher, "events_bus_cfn", after=apply_bus_policy)

    owner, attr = _owner_and_attr("sfn_send_task_failure")
    empty_result = importlib.import_module("moto.core.responses").EmptyResult

    def send_task_failure(self: Any) -> Any:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"),
            error=self._get_param("error"),
            cause=self._get_param("cause"),
        )
        return empty_result()

    patcher.set(owner, attr, send_task_failure)

    owner, attr = _owner_and_attr("sfn_execution_start")
    original_start = getattr(owner, attr)

    def start(self: Any) -> None:
        runtime.events.execution_started(self)
        original_start(self)

    patcher.set(owner, attr, start)

    owner, attr = _owner_and_attr("sfn_execution_terminated")
    original_terminated = getattr(owner, attr)

    def terminated(self: Any) -> None:
        original_terminated(self)
        runtime.events.execution_ended(self.execution)

    patcher.set(owner, attr, terminated)


def _install_cfn_responses(runtime: Runtime, patcher: Patcher) -> None:
    response_cls = resolve("cfn_response")
    action_result = importlib.import_module("moto.core.responses").ActionResult
    empty_result = importlib.import_module("moto.core.responses").EmptyResult
    realism = runtime.cfn

    def _request(self: Any) -> dict[str, Any]:
        return {
            "StackName": self._get_param("StackName"),
            "ChangeSetName": self._get_param("ChangeSetName"),
            "ChangeSetType": self._get_param("ChangeSetType", "CREATE"),
            "TemplateBody": self._get_param("TemplateBody"),
            "TemplateURL": self._get_param("TemplateURL"),
            "UsePreviousTemplate": self._get_bool_param("UsePreviousTemplate", False),
            "Parameters": self._get_param("Parameters", []),
            "Tags": self._get_param("Tags", []),
            "NotificationARNs": self._get_param("NotificationARNs", []),
            "RoleARN": self._get_param("RoleARN"),
            "Description": self._get_param("Description"),
            "ClientRequestToken": self._get_param("ClientRequestToken"),
        }

    def create_change_set(self: Any) -> Any:
        cs_id, stack_id, _ = realism.create_change_set(
            self.cloudformation_backend, self.current_account, self.region, _request(self)
        )
        return action_result({"Id": cs_id, "StackId": stack_id})

    def execute_change_set(self: Any) -> Any:
        realism.execute_change_set(
            self.cloudformation_backend,
            self.current_account,
            self._get_param("ChangeSetName"),
            self._get_param("StackName"),
            token=self._get_param("ClientRequestToken"),
        )
        return empty_result()

    def create_stack(self: Any) -> Any:
        stack_id = realism.create_stack(
            self.cloudformation_backend, self.current_account, self.region, _request(self)
        )
        return action_result({"StackId": stack_id})

    def update_stack(self: Any) -> Any:
        stack_id = realism.update_stack(
            self.cloudformation_backend, self.current_account, self.region, _request(self)
        )
        return action_result({"StackId": stack_id})

    def delete_stack(self: Any) -> Any:
        realism.delete_stack(
            self.cloudformation_backend,
            self.current_account,
            self._get_param("StackName"),
            token=self._get_param("ClientRequestToken"),
        )
        return empty_result()

    def describe_stack_events(self: Any) -> Any:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        return action_result({"StackEvents": realism.visible_events(stack)})

    def continue_update_rollback(self: Any) -> Any:
        realism.continue_update_rollback(
            self.cloudformation_backend,
            self._get_param("StackName"),
            self._get_param("ResourcesToSkip", []),
            token=self._get_param("ClientRequestToken"),
        )
        return empty_result()

    def update_termination_protection(self: Any) -> Any:
        stack_id = realism.update_termination_protection(
            self.cloudformation_backend,
            self._get_param("StackName"),
            self._get_bool_param("EnableTerminationProtection", False),
        )
        return action_result({"StackId": stack_id})

    def list_change_sets(self: Any) -> Any:
        summaries = realism.list_change_sets(
            self.cloudformation_backend, self._get_param("StackName")
        )
        return action_result({"Summaries": summaries})

    original_get_template = response_cls.get_template

    def get_template(self: Any) -> Any:
        change_set = self._get_param("ChangeSetName")
        if change_set:
            body = realism.change_set_template(
                self.cloudformation_backend,
                change_set,
                self._get_param("StackName"),
                self._get_param("TemplateStage"),
            )
            if body is not None:
                return action_result(
                    {"TemplateBody": body, "StagesAvailable": ["Original", "Processed"]}
                )
        return original_get_template(self)

    for fn in (
        get_template,
        list_change_sets,
        update_termination_protection,
        create_change_set,
        execute_change_set,
        create_stack,
        update_stack,
        delete_stack,
        describe_stack_events,
        continue_update_rollback,
    ):
        patcher.set(response_cls, fn.__name__, fn)


HISTORY_DEFAULT_PAGE = 100  # AWS: maxResults 0 or absent means 100; at most 1000
HISTORY_MAX_PAGE = 1000


def history_events(execution: Any) -> list[dict[str, Any]]:
    """The execution's history events so far: a shallow copy of the list (moto appends
    events and never changes one after publishing it), not moto's deep copy."""
    env = getattr(getattr(execution, "exec_worker", None), "env", None)
    if env is None:
        return []
    manager = env.event_manager
    with manager._mutex:
        return list(manager._history_event_list)


def history_page(
    execution_arn: str,
    events: list[dict[str, Any]],
    max_results: int,
    reverse: bool,
    token: str | None,
) -> dict[str, Any]:
    """One GetExecutionHistory page as AWS pages it: ``nextToken`` continues in the same
    order; a token from another execution or order is InvalidToken."""
    import base64

    size = HISTORY_DEFAULT_PAGE if max_results <= 0 else min(max_results, HISTORY_MAX_PAGE)
    order = sorted(events, key=lambda e: e["id"], reverse=reverse)
    start = 0
    if token:
        try:
            arn, mode, last_id = json.loads(base64.urlsafe_b64decode(token.encode()))
            if arn != execution_arn or mode != reverse:
                raise ValueError(token)
        except (ValueError, TypeError):
            raise _sfn_invalid_token() from None
        after = (lambda i: i < last_id) if reverse else (lambda i: i > last_id)
        start = next((n for n, e in enumerate(order) if after(e["id"])), len(order))
    page = order[start : start + size]
    result: dict[str, Any] = {"events": page}
    if start + size < len(order):
        cursor = json.dumps([execution_arn, reverse, page[-1]["id"]])
        result["nextToken"] = base64.urlsafe_b64encode(cursor.encode()).decode()
    return result


def _sfn_invalid_token() -> Exception:
    return _service_error("InvalidToken", "Invalid Token: 'Invalid token'")


def _epoch(timestamp: Any) -> Any:
    """A history timestamp as the JSON protocol sends it (epoch seconds)."""
    if isinstance(timestamp, str):
        from datetime import UTC, datetime

        try:
            parsed = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        except ValueError:
            return timestamp
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    if hasattr(timestamp, "timestamp"):
        return timestamp.timestamp()
    return timestamp


def history_body(page: dict[str, Any]) -> str:
    """The page as Step Functions' JSON body. moto's model-driven serialiser walks every
    member of the HistoryEvent shape for every event (about 10 ms an event here); the
    events are already AWS-shaped JSON, so they are written as they are."""
    events = [{**e, "timestamp": _epoch(e.get("timestamp"))} for e in page["events"]]
    return json.dumps({**page, "events": events}, default=str)


def _install_history(runtime: Runtime, patcher: Patcher) -> None:
    owner, attr = _owner_and_attr("sfn_history_response")
    original = getattr(owner, attr)

    def get_execution_history(self: Any) -> Any:
        arn = self._get_param("executionArn")
        execution = self.stepfunction_backend.describe_execution(arn)
        if not hasattr(execution, "exec_worker"):  # not an interpreted execution
            return original(self)
        page = history_page(
            arn,
            history_events(execution),
            int(self._get_param("maxResults") or 0),
            bool(self._get_bool_param("reverseOrder", False)),
            self._get_param("nextToken"),
        )
        return history_body(page)

    patcher.set(owner, attr, get_execution_history)

    owner, attr = _owner_and_attr("sfn_event_manager")
    original_add = getattr(owner, attr)

    def add_event(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
        event_id: int = original_add(self, context, event_type, *args, **kwargs)
        runtime.progress.bump()
        return event_id

    patcher.set(owner, attr, add_event)


def _install_state_machine_substitutions(patcher: Patcher) -> None:
    from stackrelay_local.sam import substitute_definition

    def _substituted(cloudformation_json: Any) -> Any:
        props = cloudformation_json.get("Properties") or {}
        subs = props.get("DefinitionSubstitutions")
        definition = props.get("DefinitionString")
        if isinstance(definition, dict):
            definition = json.dumps(definition)
        if definition is not None and (subs or "${" in definition):
            props = dict(props, DefinitionString=substitute_definition(definition, subs or {}))
            props.pop("DefinitionSubstitutions", None)
            cloudformation_json = dict(cloudformation_json, Properties=props)
        return cloudformation_json

    _wrap_cfn_create(patcher, "state_machine_cfn", before=_substituted)
    _wrap_cfn_update(patcher, "state_machine_cfn_update", before=_substituted)


def _install_bucket_versioning(patcher: Patcher) -> None:
    def versioning(bucket: Any, entry: Json, account_id: str, region_name: str) -> None:
        props = entry.get("Properties") or {}
        status = (props.get("VersioningConfiguration") or {}).get("Status")
        if status in ("Enabled", "Suspended"):
            backend = resolve("s3_backends")[account_id]["aws"]
            backend.put_bucket_versioning(bucket.name, status)

    def default_encryption(entry: Json) -> Json:
        # A rule may carry only BucketKeyEnabled (ServerSideEncryptionByDefault is optional:
        # S3 encrypts with SSE-S3 by default); moto's translation raises KeyError on it.
        props = entry.get("Properties") or {}
        rules = (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
        if not isinstance(rules, list) or all(
            "ServerSideEncryptionByDefault" in rule for rule in rules if isinstance(rule, dict)
        ):
            return entry
        default = {"SSEAlgorithm": "AES256"}
        filled = [
            {"ServerSideEncryptionByDefault": default, **rule} if isinstance(rule, dict) else rule
            for rule in rules
        ]
        encryption = dict(props["BucketEncryption"], ServerSideEncryptionConfiguration=filled)
        return dict(entry, Properties=dict(props, BucketEncryption=encryption))

    _wrap_cfn_create(patcher, "bucket_cfn", before=default_encryption, after=versioning)
    _wrap_cfn_update(patcher, "bucket_cfn_update", before=default_encryption, after=versioning)


def _install_rest_api_body(patcher: Patcher) -> None:
    def import_body(api: Any, entry: Json, account_id: str, region_name: str) -> None:
        body = (entry.get("Properties") or {}).get("Body")
        if isinstance(body, dict) and body.get("paths"):
            # moto imports OpenAPI 3 only; SAM writes Swagger 2.0. Paths, methods and
            # x-amazon-apigateway-integration read the same in both for this purpose.
            document = {k: v for k, v in body.items() if k != "swagger"}
            document["openapi"] = "3.0.1"
            document.setdefault("info", {}).setdefault("description", "")
            backend = resolve("apigateway_backends")[account_id][region_name]
            backend.put_rest_api(api.id, document, fail_on_warnings=False, mode="overwrite")

    _wrap_cfn_create(patcher, "rest_api_cfn", after=import_body)


def _install_nested_stacks(patcher: Patcher) -> None:
    from stackrelay_local.sam import TemplateError, load_template, process_template

    owner, attr = _owner_and_attr("nested_stack_cfn")

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        props = cloudformation_json.get("Properties") or {}
        url = str(props.get("TemplateURL") or "")
        parameters = {k: str(v) for k, v in (props.get("Parameters") or {}).items()}
        try:
            bucket, key = parse_template_url(url)
            body = read_s3_object(bucket, key, template_url_version(url))
            template = process_template(
                load_template(body), parameters, account_id, region_name, read_s3_object
            )
        except TemplateError as exc:
            raise cfn_validation_error(f"Nested stack {resource_name}: {exc}") from exc
        backend = resolve("cfn_backend")[account_id][region_name]
        return backend.create_stack(
            name=resource_name, template=json.dumps(template), parameters=parameters
        )

    patcher.set(owner, attr, classmethod(create_from_cloudformation_json))


def _install_provisioning(runtime: Runtime, patcher: Patcher) -> None:
    """Names, emulated types, IAM of the execution role and blame, per resource."""
    from stackrelay_local.emulated import EMULATED
    from stackrelay_local.provisioning import (
        ResourceFailure,
        Target,
        emulation_gap,
        generated_name,
    )

    provisioning = runtime.provisioning
    model_map = resolve("cfn_model_map")()
    for kind, cls in EMULATED.items():
        if kind not in model_map:
            patcher.set_item(model_map, kind, cls)
    null_models = set(resolve("cfn_null_models"))

    owner, attr = _owner_and_attr("cfn_generate_name")
    patcher.set(
        owner,
        attr,
        lambda resource_type, stack_name, logical_id: generated_name(
            resource_type, stack_name, logical_id
        ),
    )

    owner, attr = _owner_and_attr("cfn_parse_named")
    original_named = getattr(owner, attr)

    def parse_resource_and_generate_name(
        logical_id: str, resource_json: Any, resources_map: Any
    ) -> Any:
        kind = str(resource_json.get("Type"))
        result = original_named(logical_id, resource_json, resources_map)
        if result is None:
            if kind in null_models:
                return None
            raise ResourceFailure(logical_id, kind, str(emulation_gap(kind, False)))
        _, cleaned, name = result
        provisioning.resolved[logical_id] = dict(cleaned.get("Properties") or {})
        role = provisioning.role
        if role is not None:
            account, region = resources_map._account_id, resources_map._region_name
            target = Target(
                logical_id=logical_id,
                resource_type=kind,
                props=dict(cleaned.get("Properties") or {}),
                name=str(name),
                account=account,
                region=region,
                stack=str(resources_map["AWS::StackName"]),
                role_boundary=lambda role_name: role_boundary(account, role_name),
                stack_tags=stack_tags(resources_map),
                api_tags=lambda api_id: rest_api_tags(account, region, api_id),
            )
            role.check(target, provisioning.current_verb)
        return result

    patcher.set(owner, attr, parse_resource_and_generate_name)

    def blaming(name: str, verb: str) -> None:
        owner, attr = _owner_and_attr(name)
        original = getattr(owner, attr)

        def wrapper(logical_id: str, resource_json: Any, *args: Any, **kwargs: Any) -> Any:
            with provisioning.verb(verb):
                try:
                    resource = original(logical_id, resource_json, *args, **kwargs)
                    if resource_json.get("Type") in TAGGED_FROM_STACK and resource is not None:
                        _propagate_stack_tags(resource, stack_tags(args[0]) if args else {})
                    if resource_json.get("Type") == "AWS::IAM::Role" and resource is not None:
                        props = provisioning.resolved.get(logical_id) or {}
                        _sync_managed_policies(resource, props.get("ManagedPolicyArns") or [])
                    return resource
                except ResourceFailure:
                    raise
                except Exception as exc:
                    raise ResourceFailure(
                        logical_id, str(resource_json.get("Type")), handler_message(exc)
                    ) from exc

        patcher.set(owner, attr, wrapper)

    blaming("cfn_parse_create", "create")
    blaming("cfn_parse_update", "update")


# Types whose moto model drops the stack's tags, though AWS puts them on the resource
# and IAM decides on them (aws:ResourceTag; a REST API's children inherit them).
TAGGED_FROM_STACK = ("AWS::ApiGateway::RestApi", "AWS::StepFunctions::StateMachine")


def stack_tags(resources_map: Any) -> dict[str, str]:
    """The stack's tags as moto's ResourceMap holds them (its ``tags``, a dict)."""
    tags = getattr(resources_map, "tags", None)
    return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {}


def _propagate_stack_tags(resource: Any, tags: dict[str, str]) -> None:
    """Stack tags under the resource's own (which win), where each moto model keeps
    them: on the object (API Gateway) or in the backend's tagger (Step Functions)."""
    arn = str(getattr(resource, "arn", ""))
    if arn.startswith("arn:") and ":states:" in arn:
        _, _, _, region, account, _ = arn.split(":", 5)
        backend = resolve("sfn_parser_backends")[account][region]
        own = {t["key"] for t in backend.list_tags_for_resource(arn).get("tags", [])}
        backend.tag_resource(arn, {k: v for k, v in tags.items() if k not in own})
        return
    own_tags = getattr(resource, "tags", None)
    resource.tags = {**tags, **(own_tags if isinstance(own_tags, dict) else {})}


def rest_api_tags(account_id: str, region: str, api_id: str) -> dict[str, str] | None:
    """A REST API's tags by id, or None when there is no such API."""
    try:
        api = resolve("apigateway_backends")[account_id][region].get_rest_api(api_id)
    except Exception:
        return None
    tags = getattr(api, "tags", None)
    return dict(tags) if isinstance(tags, dict) else {}


def _sync_managed_policies(role: Any, arns: list[str]) -> None:
    """moto's AWS::IAM::Role ignores ManagedPolicyArns: attach (and detach) them.

    AWS managed policies are not loaded in moto's IAM; those are recorded on the
    role's ``stackrelay_unattached`` list rather than failing the role.
    """
    backend = iam_backend(role.account_id)
    for arn in list(role.managed_policies):
        if arn not in arns:
            backend.detach_role_policy(arn, role.name)
    skipped = []
    for arn in arns:
        if arn in role.managed_policies:
            continue
        try:
            backend.attach_role_policy(arn, role.name)
        except Exception:
            if ":iam::aws:policy/" not in arn:
                raise
            skipped.append(arn)
    role.stackrelay_unattached = skipped


def handler_message(exc: BaseException) -> str:
    """What CloudFormation shows when a resource handler fails."""
    code = getattr(exc, "code", None) or type(exc).__name__
    message = getattr(exc, "message", None) or str(exc) or code
    return f'Resource handler returned message: "{message}" (HandlerErrorCode: {code})'


def _install_s3_faults(runtime: Runtime, patcher: Patcher) -> None:
    from stackrelay_local.faults import THROTTLE

    owner, attr = _owner_and_attr("s3_get_object")
    original = getattr(owner, attr)
    error_base = resolve("s3_client_error")

    def get_object(self: Any) -> Any:
        account = getattr(self, "current_account", None)
        if runtime.faults.take(THROTTLE, service="s3", operation="GetObject", account=account):
            raise error_base("SlowDown", "Please reduce your request rate.")
        return original(self)

    patcher.set(owner, attr, get_object)


def iam_backend(account_id: str) -> Any:
    backends = resolve("iam_backends")[account_id]
    return backends["aws"]


def role_boundary(account_id: str, role_name: str) -> str | None:
    """The permissions boundary ARN of an existing role, or None."""
    try:
        role = iam_backend(account_id).get_role(role_name)
    except Exception:
        return None
    return getattr(role, "permissions_boundary_arn", None) or None


def _default_document(policy: Any) -> Any:
    for version in getattr(policy, "versions", []):
        if getattr(version, "is_default", False):
            return version.document
    return getattr(policy, "document", None)


def execution_role(account_id: str, role_arn: str) -> Any:
    """The execution role as IAM holds it (provisioning.ExecutionRole), or None if absent."""
    from stackrelay_local.provisioning import ExecutionRole

    backend = iam_backend(account_id)
    try:
        role = backend.get_role_by_arn(role_arn)
    except Exception:
        return None
    documents = list(role.policies.values())
    documents += [_default_document(p) for p in role.managed_policies.values()]
    boundary = None
    if getattr(role, "permissions_boundary_arn", None):
        try:
            boundary = _default_document(backend.get_policy(role.permissions_boundary_arn))
        except Exception:
            boundary = {"Statement": []}  # a boundary that does not exist allows nothing
    return ExecutionRole(role_arn, [d for d in documents if d], boundary)


@contextmanager
def server_config() -> Iterator[None]:
    """Server mode has no mock_aws: enable the ASL interpreter in moto's config."""
    config = resolve("user_config")
    saved = json.loads(json.dumps(config))
    config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    try:
        yield
    finally:
        config.clear()
        config.update(saved)


# ---------------------------------------------------------------------------
# Reads and small helpers over moto objects
# ---------------------------------------------------------------------------
def action_method_name(action: str) -> str:
    return str(resolve("camelcase")(action))


def default_account() -> str:
    return str(resolve("default_account"))


def cfn_backend(account_id: str, region: str) -> Any:
    return resolve("cfn_backend")[account_id][region]


def live_stack(backend: Any, name_or_id: str) -> Any | None:
    for stack in backend.stacks.values():
        if name_or_id in (stack.name, stack.stack_id):
            return stack
    return None


def find_change_set(backend: Any, ref: str, stack_name: str | None) -> Any | None:
    if ref in backend.change_sets:
        return backend.change_sets[ref]
    for cs in backend.change_sets.values():
        if cs.change_set_name == ref and (stack_name in (None, cs.stack_name, cs.stack_id)):
            return cs
    return None


def physical_ids(stack: Any) -> dict[str, str]:
    parsed = getattr(stack.resource_map, "_parsed_resources", {}) or {}
    ids: dict[str, str] = {}
    for lid, resource in parsed.items():
        physical = getattr(resource, "physical_resource_id", None)
        if isinstance(physical, str):
            ids[lid] = physical
    return ids


def refresh_stack_after_apply(stack: Any, template: str) -> None:
    """Give a change-set-created stack its template dict, description and Outputs."""
    stack.template = template
    stack._parse_template()
    stack.description = stack.template_dict.get("Description")
    stack.output_map = stack._create_output_map()


def new_stack_event(**fields: Any) -> Any:
    return resolve("cfn_event")(resource_properties=None, **fields)


def _service_error(code: str, message: str) -> Exception:
    base = resolve("service_exception")
    error_cls = type(code, (base,), {"code": code})
    return error_cls(message)  # type: ignore[no-any-return]


def cfn_validation_error(message: str) -> Exception:
    return resolve("cfn_exceptions")(message=message)  # type: ignore[no-any-return]


def cfn_already_exists(message: str) -> Exception:
    return resolve("cfn_already_exists")(message)  # type: ignore[no-any-return]


def cfn_invalid_change_set_status(message: str) -> Exception:
    return _service_error("InvalidChangeSetStatus", message)


def cfn_change_set_not_found(ref: str) -> Exception:
    return _service_error("ChangeSetNotFound", f"ChangeSet [{ref}] does not exist")


def throttling_error() -> Exception:
    return _service_error("Throttling", "Rate exceeded")


def read_s3_object(bucket: str, key: str, version: str | None = None) -> bytes:
    """An object's bytes (of ``version``, as AWS reads a pinned one) from whichever
    account owns the bucket."""
    backend = resolve("s3_backends")[default_account()]["aws"]
    found = backend.get_object(bucket, key, version_id=version)
    if found is None:
        raise cfn_validation_error(f"S3 error: s3://{bucket}/{key} has no version {version}")
    return bytes(found.value)


def parse_template_url(url: str) -> tuple[str, str]:
    """(bucket, key) of a TemplateURL in any of S3's URL styles, or a localhost one."""
    parts = urlparse(url)
    host, path = parts.netloc.split(":")[0], unquote(parts.path.lstrip("/"))
    if host in ("localhost", "127.0.0.1") or host.startswith("s3.") or host == "s3.amazonaws.com":
        bucket, _, key = path.partition("/")
        return bucket, key
    if ".s3." in host or ".s3-" in host or host.endswith(".localhost"):
        return host.split(".s3")[0].split(".localhost")[0], path
    raise cfn_validation_error(f"TemplateURL must be an Amazon S3 URL, got {url}")


def template_url_version(url: str) -> str | None:
    """The ``versionId`` a TemplateURL pins (CloudFormation reads that version)."""
    versions = parse_qs(urlparse(url).query).get("versionId")
    return versions[0] if versions else None


def fn_attr_names() -> tuple[str, ...]:
    return (
        "function_name",
        "handler",
        "code",
        "environment_vars",
        "timeout",
        "memory_size",
        "function_arn",
        "account_id",
        "region",
    )


Callback = Callable[..., Any]


def _install_template_json(patcher: Patcher) -> None:
    """moto parses JSON templates with PyYAML's Python loader; read JSON as JSON first."""

    def as_json(template: Any) -> Any:
        if isinstance(template, str) and template.lstrip().startswith("{"):
            try:
                return json.loads(template)
            except ValueError:
                return None  # not JSON after all: moto's own reader says why
        return None

    owner, attr = _owner_and_attr("cfn_stack_parse_template")
    original_parse = getattr(owner, attr)

    def parse_template(template: str) -> Any:
        parsed = as_json(template)
        return parsed if parsed is not None else original_parse(template)

    patcher.set(owner, attr, staticmethod(parse_template))

    owner, attr = _owner_and_attr("cfn_change_set_parse_template")
    original_change_set = getattr(owner, attr)

    def _parse_template(self: Any) -> None:
        parsed = as_json(self.template)
        if parsed is None:
            original_change_set(self)
        else:
            self.template_dict = parsed

    patcher.set(owner, attr, _parse_template)


_ASL_TREES: dict[str, Any] = {}
_ASL_TREES_LOCK = threading.Lock()
_ASL_TREES_MAX = 32
_ASL_TEXTS: dict[int, str] = {}
"""The text of every node of every cached tree, by ``id(node)``: the trees are kept alive
in _ASL_TREES, so no other live object has those ids; entries go before their tree does."""
_ASL_TREE_NODES: dict[str, list[int]] = {}


def _asl_tree_texts(
    tree: Any, terminal: type, terminal_text: Callable[[Any], str]
) -> dict[int, str]:
    """``id(node) -> text`` for each node of a finished parse tree (post-order, no recursion).

    A token's node has its token's text; a rule's node the join of its children's, as
    antlr's own ``getText`` computes them.
    """
    texts: dict[int, str] = {}
    stack: list[tuple[Any, bool]] = [(tree, False)]
    while stack:
        node, expanded = stack.pop()
        if isinstance(node, terminal):
            texts[id(node)] = terminal_text(node)
        elif expanded:
            texts[id(node)] = "".join(texts[id(child)] for child in node.getChildren())
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in node.getChildren())
    return texts


def _install_asl_parse_cache(patcher: Patcher) -> None:
    """Parse each ASL definition once per process; every execution still gets its own program.

    The antlr parse tree is read-only once built, and keyed by the definition's full text,
    so a changed definition is parsed anew. The program (evaluation components) is built
    from the tree by a fresh Preprocessor each time, as moto does, so executions share no
    component. Process-wide: engines started one after another (tests) reuse it too.
    Building a program reads node texts many times over; for a cached tree they are
    computed once (``_ASL_TEXTS``), for any other tree antlr computes them as before.
    """
    owner, attr = _owner_and_attr("asl_parse")
    original = getattr(owner, attr)
    preprocessor = resolve("asl_preprocessor")

    rule_owner, rule_attr = _owner_and_attr("antlr_rule_text")
    rule_text = getattr(rule_owner, rule_attr)
    terminal_owner, terminal_attr = _owner_and_attr("antlr_terminal_text")
    terminal_text = getattr(terminal_owner, terminal_attr)

    def remembered_rule_text(self: Any) -> str:
        found = _ASL_TEXTS.get(id(self))
        return found if found is not None else str(rule_text(self))

    def remembered_terminal_text(self: Any) -> str:
        found = _ASL_TEXTS.get(id(self))
        return found if found is not None else str(terminal_text(self))

    patcher.set(rule_owner, rule_attr, remembered_rule_text)
    patcher.set(terminal_owner, terminal_attr, remembered_terminal_text)

    def parse(definition: str) -> tuple[Any, Any]:
        tree = _ASL_TREES.get(definition)
        if tree is not None:
            return preprocessor().visit(tree), tree
        program, tree = original(definition)  # raises on a syntax error, as before
        texts = _asl_tree_texts(tree, terminal_owner, terminal_text)
        with _ASL_TREES_LOCK:
            if definition not in _ASL_TREES:
                if len(_ASL_TREES) >= _ASL_TREES_MAX:
                    evicted = next(iter(_ASL_TREES))
                    for node_id in _ASL_TREE_NODES.pop(evicted, []):
                        _ASL_TEXTS.pop(node_id, None)
                    _ASL_TREES.pop(evicted)
                _ASL_TEXTS.update(texts)
                _ASL_TREE_NODES[definition] = list(texts)
                _ASL_TREES[definition] = tree
        return program, tree

    patcher.set(owner, attr, staticmethod(parse))
