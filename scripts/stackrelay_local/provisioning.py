"""What CloudFormation checks and decides per resource, in one place.

- **Generated names** (``generated_name``): CloudFormation names an unnamed
  resource ``<stack>-<LogicalId>-<SUFFIX>``, shortening stack name and logical
  id so the whole fits the type's limit (``NAME_LIMITS``); state machines are
  ``<LogicalId>-<suffix>``.
- **IAM of the execution role** (``ACTIONS`` + ``ExecutionRole.check``): each
  resource CloudFormation creates, updates or deletes calls the service with
  the stack's execution role (the change set's ``RoleARN``). ``ACTIONS`` is the
  per-type table of those calls (action, resource ARN, condition keys); the
  role's real policies, read from the account's IAM, decide each one. A
  denial fails the resource with AWS's message.
- **What the engine can create** (``emulation_gap``): a type moto has a model
  for or ``emulated.py`` emulates; anything else fails the resource with
  "AWS::X is not emulated locally" instead of moto's silent skip. With an
  execution role, a type also needs an ``ACTIONS`` entry, or it fails saying
  its IAM cannot be checked locally.
"""

from __future__ import annotations

import random
import string
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from stackrelay_local.iam_policy import EXPLICIT_DENY, Request, evaluate_with_boundary

# --------------------------------------------------------------------------- names
# Maximum physical-name length CloudFormation must respect, per type.
NAME_LIMITS: dict[str, int] = {
    "AWS::IAM::Role": 64,
    "AWS::IAM::ManagedPolicy": 128,
    "AWS::IAM::Policy": 128,
    "AWS::IAM::InstanceProfile": 128,
    "AWS::Lambda::Function": 64,
    "AWS::Lambda::LayerVersion": 140,
    "AWS::StepFunctions::StateMachine": 80,
    "AWS::StepFunctions::Activity": 80,
    "AWS::SQS::Queue": 80,
    "AWS::SNS::Topic": 256,
    "AWS::DynamoDB::Table": 255,
    "AWS::S3::Bucket": 63,
    "AWS::Events::Rule": 64,
    "AWS::Logs::LogGroup": 512,
    "AWS::CloudWatch::Alarm": 255,
    "AWS::Kinesis::Stream": 128,
    "AWS::ElasticLoadBalancingV2::TargetGroup": 32,
    "AWS::ElasticLoadBalancingV2::LoadBalancer": 32,
    "AWS::SecretsManager::Secret": 512,
    "AWS::SSM::Parameter": 1011,
}
DEFAULT_NAME_LIMIT = 255
# Types CloudFormation names "<LogicalId>-<suffix>" (no stack name).
LOGICAL_ID_FIRST = {"AWS::StepFunctions::StateMachine", "AWS::StepFunctions::Activity"}
LOWERCASE_NAMES = {"AWS::S3::Bucket"}
_rng = random.SystemRandom()


def _suffix(mixed_case: bool) -> str:
    if mixed_case:
        return "".join(_rng.choice(string.ascii_letters + string.digits) for _ in range(12))
    return "".join(_rng.choice(string.ascii_uppercase + string.digits) for _ in range(12))


def generated_name(resource_type: str, stack_name: str, logical_id: str) -> str:
    """A physical name as CloudFormation generates it for an unnamed resource."""
    limit = NAME_LIMITS.get(resource_type, DEFAULT_NAME_LIMIT)
    if resource_type in LOGICAL_ID_FIRST:
        suffix = _suffix(mixed_case=True)
        return f"{logical_id[: limit - len(suffix) - 1]}-{suffix}"
    suffix = _suffix(mixed_case=False)
    fifo = ".fifo" if resource_type == "AWS::SQS::Queue" and logical_id.endswith("fifo") else ""
    budget = limit - len(suffix) - len(fifo) - 2
    stack_part, logical_part = stack_name, logical_id
    if len(stack_part) + len(logical_part) > budget:
        # Share the budget: each part gets at least half, the shorter gives the rest away.
        half = budget // 2
        if len(logical_part) <= half:
            stack_part = stack_part[: budget - len(logical_part)]
        elif len(stack_part) <= half:
            logical_part = logical_part[: budget - len(stack_part)]
        else:
            stack_part, logical_part = stack_part[:half], logical_part[: budget - half]
    stack_part = stack_part.rstrip("-") or stack_part
    name = f"{stack_part}-{logical_part}-{suffix}{fifo}"
    return name.lower() if resource_type in LOWERCASE_NAMES else name


# --------------------------------------------------------------------------- targets
@dataclass
class Target:
    """One resource operation CloudFormation performs."""

    logical_id: str
    resource_type: str
    props: dict[str, Any]
    name: str  # physical name (given or generated) or physical id
    account: str
    region: str
    stack: str
    role_boundary: Callable[[str], str | None] = field(default=lambda _name: None)
    partition: str = "aws"
    stack_tags: dict[str, str] = field(default_factory=dict)
    """The stack's tags: CloudFormation propagates them to every resource it tags."""
    api_tags: Callable[[str], dict[str, str] | None] = field(default=lambda _api_id: None)
    """The tags of a REST API by id (its children inherit them for access control)."""

    def arn(self, service: str, rest: str, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account if account else ''}:{rest}"
        )

    def function_arn(self, ref: Any) -> str:
        text = str(ref or "")
        return text if text.startswith("arn:") else self.arn("lambda", f"function:{text}")

    def role_name(self, ref: Any) -> str:
        return str(ref or "").rsplit("/", 1)[-1]


def _pass_role(t: Target, role: Any, service: str) -> list[Request]:
    if not role:
        return []
    role = str(role)
    arn = role if role.startswith("arn:") else t.arn("iam", f"role/{role}", region=False)
    return [Request("iam:PassRole", arn, {"iam:PassedToService": service})]


def _tags(action: str, resource: str, tags: Any) -> list[Request]:
    return [Request(action, resource)] if tags else []


def _s3_object(t: Target, location: Any) -> list[Request]:
    if isinstance(location, dict) and location.get("S3Bucket") and location.get("S3Key"):
        bucket, key = location["S3Bucket"], location["S3Key"]
        return [Request("s3:GetObject", f"arn:{t.partition}:s3:::{bucket}/{key}")]
    return []


def _role(t: Target) -> list[Request]:
    path = t.props.get("Path") or "/"
    arn = t.arn("iam", f"role{path}{t.name}", region=False)
    boundary = t.props.get("PermissionsBoundary")
    ctx = {"iam:PermissionsBoundary": boundary} if boundary else {}
    requests = [Request("iam:CreateRole", arn, ctx)]
    requests += [Request("iam:PutRolePolicy", arn, ctx) for _ in t.props.get("Policies") or []]
    requests += [
        Request("iam:AttachRolePolicy", arn, {**ctx, "iam:PolicyARN": policy})
        for policy in t.props.get("ManagedPolicyArns") or []
    ]
    return requests + _tags("iam:TagRole", arn, t.props.get("Tags"))


def _role_policy(t: Target, action: str, extra: dict[str, str]) -> list[Request]:
    requests = []
    for role in t.props.get("Roles") or []:
        name = t.role_name(role)
        boundary = t.role_boundary(name)
        ctx = {**extra, **({"iam:PermissionsBoundary": boundary} if boundary else {})}
        requests.append(Request(action, t.arn("iam", f"role/{name}", region=False), ctx))
    return requests


def _managed_policy(t: Target) -> list[Request]:
    path = t.props.get("Path") or "/"
    arn = t.arn("iam", f"policy{path}{t.props.get('ManagedPolicyName') or t.name}", region=False)
    return [
        Request("iam:CreatePolicy", arn),
        *_role_policy(t, "iam:AttachRolePolicy", {"iam:PolicyARN": arn}),
    ]


def _function(t: Target) -> list[Request]:
    arn = t.arn("lambda", f"function:{t.name}")
    requests = [Request("lambda:CreateFunction", arn)]
    requests += _pass_role(t, t.props.get("Role"), "lambda.amazonaws.com")
    requests += _s3_object(t, t.props.get("Code"))
    requests += [
        # A `!Ref` of a layer in the same stack resolves to moto's LayerVersion object.
        Request("lambda:GetLayerVersion", str(getattr(layer, "arn", layer)))
        for layer in t.props.get("Layers") or []
    ]
    return requests + _tags("lambda:TagResource", arn, t.props.get("Tags"))


def _state_machine(t: Target) -> list[Request]:
    arn = t.arn("states", f"stateMachine:{t.name}")
    context = _tag_context(t, t.props.get("Tags"))
    requests = [Request("states:CreateStateMachine", arn, context)]
    requests += _pass_role(t, t.props.get("RoleArn"), "states.amazonaws.com")
    if t.props.get("LoggingConfiguration"):
        requests.append(Request("logs:CreateLogDelivery", "*"))
    if t.props.get("Tags"):
        requests.append(Request("states:TagResource", arn, context))
    return requests


def _rule(t: Target) -> list[Request]:
    bus = str(t.props.get("EventBusName") or "default").rsplit("/", 1)[-1]
    arn = t.arn("events", f"rule/{t.name}" if bus == "default" else f"rule/{bus}/{t.name}")
    requests = [Request("events:PutRule", arn)]
    requests += _pass_role(t, t.props.get("RoleArn"), "events.amazonaws.com")
    targets = t.props.get("Targets") or []
    if targets:
        requests.append(Request("events:PutTargets", arn))
    for target in targets:
        requests += _pass_role(t, target.get("RoleArn"), "events.amazonaws.com")
    return requests


def _esm(t: Target) -> list[Request]:
    return [
        Request(
            "lambda:CreateEventSourceMapping",
            "*",
            {"lambda:FunctionArn": t.function_arn(t.props.get("FunctionName"))},
        )
    ]


def _tag_context(t: Target, own: Any) -> dict[str, str | list[str]]:
    """aws:RequestTag/* and aws:TagKeys of a create call, aws:ResourceTag/* after it.

    CloudFormation sends the stack's tags with the resource's own (which win), and the
    resource then carries them: the same set serves both keys for the stack's own
    resources.
    """
    if isinstance(own, list):
        own = {str(i.get("Key")): str(i.get("Value")) for i in own if isinstance(i, dict)}
    tags = {**t.stack_tags, **(own if isinstance(own, dict) else {})}
    context: dict[str, str | list[str]] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    context.update({f"aws:ResourceTag/{k}": v for k, v in tags.items()})
    if tags:
        context["aws:TagKeys"] = sorted(tags)
    return context


def _inherited(t: Target, api_id: Any) -> dict[str, str | list[str]]:
    """A REST API's child (resource, method, deployment, stage...) inherits its tags
    for access control (API Gateway's "tag inheritance", V1 only)."""
    tags = t.api_tags(str(api_id or "")) or {}
    return {f"aws:ResourceTag/{k}": v for k, v in tags.items()}


def _apigw(
    path: Callable[[Target], str], method: str = "POST", api_prop: str | None = None
) -> Callable[[Target], list[Request]]:
    def build(t: Target) -> list[Request]:
        if api_prop is None:  # the API itself: tagged from the stack
            context = _tag_context(t, t.props.get("Tags"))
        elif api_prop == "RestApiId":
            context = _inherited(t, t.props.get(api_prop))
        else:  # HTTP/WebSocket APIs: AWS documents no tag inheritance for children
            context = {}
        return [
            Request(f"apigateway:{method}", t.arn("apigateway", path(t), account=False), context)
        ]

    return build


def _one(
    action: str,
    rest: Callable[[Target], str],
    service: str | None = None,
    region: bool = True,
    account: bool = True,
) -> Callable[[Target], list[Request]]:
    svc = service or action.split(":", 1)[0]

    def build(t: Target) -> list[Request]:
        return [Request(action, t.arn(svc, rest(t), region=region, account=account))]

    return build


def _log_group(t: Target) -> list[Request]:
    arn = t.arn("logs", f"log-group:{t.name}")
    requests = [Request("logs:CreateLogGroup", arn)]
    if t.props.get("RetentionInDays"):
        requests.append(Request("logs:PutRetentionPolicy", arn))
    return requests + _tags("logs:TagResource", arn, t.props.get("Tags"))


def _schedule(t: Target) -> list[Request]:
    group = t.props.get("GroupName") or "default"
    requests = [
        Request("scheduler:CreateSchedule", t.arn("scheduler", f"schedule/{group}/{t.name}"))
    ]
    return requests + _pass_role(
        t, (t.props.get("Target") or {}).get("RoleArn"), "scheduler.amazonaws.com"
    )


# The calls CloudFormation makes with the execution role to CREATE each type.
ACTIONS: dict[str, Callable[[Target], list[Request]]] = {
    "AWS::IAM::Role": _role,
    "AWS::IAM::Policy": lambda t: _role_policy(t, "iam:PutRolePolicy", {}),
    "AWS::IAM::ManagedPolicy": _managed_policy,
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::Permission": lambda t: [
        Request("lambda:AddPermission", t.function_arn(t.props.get("FunctionName")))
    ],
    "AWS::Lambda::Url": lambda t: [
        Request("lambda:CreateFunctionUrlConfig", t.function_arn(t.props.get("TargetFunctionArn")))
    ],
    "AWS::Lambda::Version": lambda t: [
        Request("lambda:PublishVersion", t.function_arn(t.props.get("FunctionName")))
    ],
    "AWS::Lambda::Alias": lambda t: [
        Request("lambda:CreateAlias", t.function_arn(t.props.get("FunctionName")))
    ],
    "AWS::Lambda::EventSourceMapping": _esm,
    "AWS::Lambda::LayerVersion": lambda t: (
        [
            Request(
                "lambda:PublishLayerVersion",
                t.arn("lambda", f"layer:{t.props.get('LayerName') or t.name}"),
            ),
            *_s3_object(t, t.props.get("Content")),
        ]
    ),
    "AWS::DynamoDB::Table": lambda t: [
        Request("dynamodb:CreateTable", t.arn("dynamodb", f"table/{t.name}"))
    ],
    "AWS::SQS::Queue": lambda t: (
        [
            Request("sqs:CreateQueue", t.arn("sqs", t.name)),
            *_tags("sqs:TagQueue", t.arn("sqs", t.name), t.props.get("Tags")),
        ]
    ),
    "AWS::SQS::QueuePolicy": lambda t: [
        Request("sqs:SetQueueAttributes", t.arn("sqs", str(q).rsplit("/", 1)[-1]))
        for q in t.props.get("Queues") or []
    ],
    "AWS::SNS::Topic": lambda t: [Request("sns:CreateTopic", t.arn("sns", t.name))],
    "AWS::SNS::Subscription": lambda t: [
        Request("sns:Subscribe", str(t.props.get("TopicArn") or ""))
    ],
    "AWS::SNS::TopicPolicy": lambda t: [
        Request("sns:SetTopicAttributes", str(topic)) for topic in t.props.get("Topics") or []
    ],
    "AWS::S3::Bucket": _one("s3:CreateBucket", lambda t: t.name, region=False, account=False),
    "AWS::S3::BucketPolicy": _one(
        "s3:PutBucketPolicy", lambda t: str(t.props.get("Bucket")), region=False, account=False
    ),
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::Events::Rule": _rule,
    "AWS::Events::EventBus": _one("events:CreateEventBus", lambda t: f"event-bus/{t.name}"),
    "AWS::Logs::LogGroup": _log_group,
    "AWS::CloudWatch::Alarm": _one("cloudwatch:PutMetricAlarm", lambda t: f"alarm:{t.name}"),
    "AWS::SSM::Parameter": _one("ssm:PutParameter", lambda t: f"parameter/{t.name.lstrip('/')}"),
    "AWS::SecretsManager::Secret": _one(
        "secretsmanager:CreateSecret", lambda t: f"secret:{t.name}-AbCdEf"
    ),
    "AWS::Kinesis::Stream": _one("kinesis:CreateStream", lambda t: f"stream/{t.name}"),
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::CloudFormation::Stack": _one("cloudformation:CreateStack", lambda t: f"stack/{t.name}/*"),
    "AWS::ApiGateway::RestApi": _apigw(lambda t: "/restapis"),
    "AWS::ApiGateway::Deployment": _apigw(
        lambda t: f"/restapis/{t.props.get('RestApiId')}/deployments", api_prop="RestApiId"
    ),
    "AWS::ApiGateway::Stage": _apigw(
        lambda t: f"/restapis/{t.props.get('RestApiId')}/stages", api_prop="RestApiId"
    ),
    "AWS::ApiGateway::Resource": _apigw(
        lambda t: f"/restapis/{t.props.get('RestApiId')}/resources", api_prop="RestApiId"
    ),
    "AWS::ApiGateway::Method": _apigw(
        lambda t: (
            f"/restapis/{t.props.get('RestApiId')}/resources/"
            f"{t.props.get('ResourceId')}/methods/{t.props.get('HttpMethod')}"
        ),
        "PUT",
        api_prop="RestApiId",
    ),
    "AWS::ApiGatewayV2::Api": _apigw(lambda t: "/apis"),
    "AWS::ApiGatewayV2::Stage": _apigw(
        lambda t: f"/apis/{t.props.get('ApiId')}/stages", api_prop="ApiId"
    ),
    "AWS::ApiGatewayV2::Integration": _apigw(
        lambda t: f"/apis/{t.props.get('ApiId')}/integrations", api_prop="ApiId"
    ),
    "AWS::ApiGatewayV2::Route": _apigw(
        lambda t: f"/apis/{t.props.get('ApiId')}/routes", api_prop="ApiId"
    ),
    "AWS::CloudFormation::WaitConditionHandle": lambda t: [],
    "AWS::CloudFormation::WaitCondition": lambda t: [],
}

# Create call -> the call CloudFormation makes to update / delete the same resource.
_UPDATE = {
    "iam:CreateRole": "iam:UpdateRole",
    "iam:CreatePolicy": "iam:CreatePolicyVersion",
    "lambda:CreateFunction": "lambda:UpdateFunctionConfiguration",
    "lambda:CreateFunctionUrlConfig": "lambda:UpdateFunctionUrlConfig",
    "lambda:CreateAlias": "lambda:UpdateAlias",
    "lambda:CreateEventSourceMapping": "lambda:UpdateEventSourceMapping",
    "dynamodb:CreateTable": "dynamodb:UpdateTable",
    "sqs:CreateQueue": "sqs:SetQueueAttributes",
    "sns:CreateTopic": "sns:SetTopicAttributes",
    "states:CreateStateMachine": "states:UpdateStateMachine",
    "logs:CreateLogGroup": "logs:PutRetentionPolicy",
    "s3:CreateBucket": "s3:PutBucketTagging",
    "ssm:PutParameter": "ssm:PutParameter",
    "secretsmanager:CreateSecret": "secretsmanager:UpdateSecret",
    "kinesis:CreateStream": "kinesis:UpdateShardCount",
    "scheduler:CreateSchedule": "scheduler:UpdateSchedule",
    "cloudformation:CreateStack": "cloudformation:UpdateStack",
    "events:CreateEventBus": "events:DescribeEventBus",
    "apigateway:POST": "apigateway:PATCH",
    "apigateway:PUT": "apigateway:PUT",
}
_DELETE = {
    "iam:CreateRole": "iam:DeleteRole",
    "iam:PutRolePolicy": "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy": "iam:DetachRolePolicy",
    "iam:CreatePolicy": "iam:DeletePolicy",
    "lambda:CreateFunction": "lambda:DeleteFunction",
    "lambda:AddPermission": "lambda:RemovePermission",
    "lambda:CreateFunctionUrlConfig": "lambda:DeleteFunctionUrlConfig",
    "lambda:CreateAlias": "lambda:DeleteAlias",
    "lambda:CreateEventSourceMapping": "lambda:DeleteEventSourceMapping",
    "lambda:PublishLayerVersion": "lambda:DeleteLayerVersion",
    "dynamodb:CreateTable": "dynamodb:DeleteTable",
    "sqs:CreateQueue": "sqs:DeleteQueue",
    "sns:CreateTopic": "sns:DeleteTopic",
    "sns:Subscribe": "sns:Unsubscribe",
    "s3:CreateBucket": "s3:DeleteBucket",
    "s3:PutBucketPolicy": "s3:DeleteBucketPolicy",
    "states:CreateStateMachine": "states:DeleteStateMachine",
    "events:PutRule": "events:DeleteRule",
    "events:PutTargets": "events:RemoveTargets",
    "events:CreateEventBus": "events:DeleteEventBus",
    "logs:CreateLogGroup": "logs:DeleteLogGroup",
    "cloudwatch:PutMetricAlarm": "cloudwatch:DeleteAlarms",
    "ssm:PutParameter": "ssm:DeleteParameter",
    "secretsmanager:CreateSecret": "secretsmanager:DeleteSecret",
    "kinesis:CreateStream": "kinesis:DeleteStream",
    "scheduler:CreateSchedule": "scheduler:DeleteSchedule",
    "cloudformation:CreateStack": "cloudformation:DeleteStack",
    "apigateway:POST": "apigateway:DELETE",
    "apigateway:PUT": "apigateway:DELETE",
}
_NO_CALL = object()


def requests_for(target: Target, verb: str) -> list[Request]:
    """The calls for ``verb`` (create/update/delete) of ``target``; KeyError if unmodelled."""
    created = ACTIONS[target.resource_type](target)
    if verb == "create":
        return created
    table = _UPDATE if verb == "update" else _DELETE
    result = []
    for request in created:
        if request.action == "iam:PassRole" and verb == "update":
            result.append(request)
            continue
        if request.action in ("iam:PutRolePolicy", "iam:AttachRolePolicy") and verb == "update":
            result.append(request)
            continue
        action = table.get(request.action, _NO_CALL if verb == "delete" else request.action)
        if action is _NO_CALL:
            continue
        resource = request.resource
        if request.action == "lambda:CreateEventSourceMapping":
            # Only creating one has no resource-level permissions; then it has an ARN.
            resource = target.arn("lambda", f"event-source-mapping:{target.name}")
        if resource.endswith(("::/restapis", "::/apis")):
            # Updating or deleting an API addresses it (/restapis/<id>). The id is not
            # known here; the name stands in (policies match /restapis/* and its tags).
            resource = f"{resource}/{target.name}"
        result.append(Request(str(action), resource, request.context))
    if verb == "update" and target.resource_type == "AWS::IAM::Role":
        boundary = target.props.get("PermissionsBoundary")
        arn = result[0].resource if result else ""
        if boundary:
            result.append(
                Request(
                    "iam:PutRolePermissionsBoundary", arn, {"iam:PermissionsBoundary": boundary}
                )
            )
        elif target.role_boundary(target.name):
            result.append(Request("iam:DeleteRolePermissionsBoundary", arn))
    return result


# --------------------------------------------------------------------------- denial
class ResourceFailure(Exception):
    """A resource CloudFormation could not create/update/delete: whom to blame and why."""

    def __init__(self, logical_id: str, resource_type: str, reason: str) -> None:
        super().__init__(reason)
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.reason = reason


def denial_reason(role_arn: str, request: Request, explicit: bool, unevaluated: list[str]) -> str:
    """AWS's wording for an execution-role denial (as CloudFormation shows it)."""
    role_name = role_arn.rsplit("/", 1)[-1]
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    principal = f"arn:aws:sts::{account}:assumed-role/{role_name}/AWSCloudFormation"
    why = (
        "with an explicit deny in an identity-based policy"
        if explicit
        else f"because no identity-based policy allows the {request.action} action"
    )
    service = request.action.split(":", 1)[0]
    message = (
        f'Resource handler returned message: "User: {principal} is not authorized to perform: '
        f"{request.action} on resource: {request.resource} {why} "
        f'(Service: {service}, Status Code: 403)" (HandlerErrorCode: AccessDenied)'
    )
    if unevaluated:
        message += (
            " [local engine: condition operator(s) "
            + ", ".join(sorted(set(unevaluated)))
            + " not evaluated; treated as not matching]"
        )
    return message


@dataclass
class ExecutionRole:
    """The CloudFormation execution role's policies, as IAM holds them."""

    arn: str
    documents: list[Any]
    boundary: Any | None = None

    def check(self, target: Target, verb: str) -> None:
        try:
            requests = requests_for(target, verb)
        except KeyError:
            raise ResourceFailure(
                target.logical_id,
                target.resource_type,
                f"{target.resource_type} is not emulated locally with IAM checks: the local "
                "engine cannot tell which calls CloudFormation makes for it with the execution "
                "role, so it refuses rather than pass unchecked.",
            ) from None
        for request in requests:
            verdict = evaluate_with_boundary(self.documents, self.boundary, request)
            if not verdict.allowed:
                raise ResourceFailure(
                    target.logical_id,
                    target.resource_type,
                    denial_reason(
                        self.arn, request, verdict.decision == EXPLICIT_DENY, verdict.unevaluated
                    ),
                )


# --------------------------------------------------------------------------- context
class Provisioning:
    """Per-thread: which execution role CloudFormation is acting with, and the verb."""

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def resolved(self) -> dict[str, dict[str, Any]]:
        """Resolved properties of the resources this thread is building, by logical id."""
        return self._local.__dict__.setdefault("resolved", {})  # type: ignore[no-any-return]

    @contextmanager
    def acting(self, role: ExecutionRole | None, stack: str) -> Iterator[None]:
        previous = getattr(self._local, "role", None), getattr(self._local, "stack", None)
        self._local.role, self._local.stack = role, stack
        try:
            yield
        finally:
            self._local.role, self._local.stack = previous

    @contextmanager
    def verb(self, verb: str) -> Iterator[None]:
        verbs: list[str] = self._local.__dict__.setdefault("verbs", [])
        verbs.append(verb)
        try:
            yield
        finally:
            verbs.pop()

    @property
    def role(self) -> ExecutionRole | None:
        return getattr(self._local, "role", None)

    @property
    def current_verb(self) -> str:
        verbs = self._local.__dict__.get("verbs") or ["create"]
        return str(verbs[-1])


def emulation_gap(resource_type: str, creatable: bool) -> str | None:
    """Why the engine cannot deploy ``resource_type``, or None."""
    if creatable:
        return None
    return (
        f"{resource_type} is not emulated locally: moto's CloudFormation would skip it and "
        "report success, so the local engine fails it instead (docs/local-engine.md lists "
        "what is emulated)."
    )
