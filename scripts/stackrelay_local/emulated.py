"""Resource types moto's CloudFormation skips, emulated so nothing passes silently.

moto's CloudFormation creates only the types it has a model for and *skips*
the others with a warning, and the stack still completes. The engine instead
either emulates a type here (backed by moto's own service backend, so the
resource is visible through that service's API) or fails the resource with
"AWS::X is not emulated locally" (see ``provisioning.py``).

Each class speaks moto's CloudFormation model protocol (create/update/delete
from ``cloudformation_json``, ``physical_resource_id``, ``get_cfn_attribute``);
``seams.install`` registers them in moto's model map for the engine's lifetime.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from stackrelay_local import seams


class _Emulated:
    """Base: a physical id, attributes for Fn::GetAtt, create/update/delete hooks."""

    TYPE = ""
    NAME_PROPERTY: str | None = None
    NOTE = ""  # what the emulation does not do, shown in the docs

    def __init__(self, physical_id: str, attributes: dict[str, Any], props: dict[str, Any]):
        self.physical_resource_id = physical_id
        self.attributes = attributes
        self.props = props
        self.cf_resource_type = self.TYPE

    # -- moto's model protocol --------------------------------------------
    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str | None:
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> _Emulated:
        props = dict(cloudformation_json.get("Properties") or {})
        return cls.create(resource_name, props, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> _Emulated:
        original_resource.remove(account_id, region_name)
        props = dict(cloudformation_json.get("Properties") or {})
        return cls.create(new_resource_name, props, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        return None

    def delete(self, account_id: str, region_name: str) -> None:
        self.remove(account_id, region_name)

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name in self.attributes:
            return self.attributes[attribute_name]
        raise seams.cfn_validation_error(
            f"Template error: resource type {self.TYPE} does not support attribute "
            f"{{{attribute_name}}}"
        )

    # -- per type -----------------------------------------------------------
    @classmethod
    def create(cls, name: str, props: dict[str, Any], account: str, region: str) -> _Emulated:
        raise NotImplementedError

    def remove(self, account: str, region: str) -> None:
        return None


def _v2(account: str, region: str) -> Any:
    return seams.resolve("apigatewayv2_backends")[account][region]


class HttpApi(_Emulated):
    TYPE = "AWS::ApiGatewayV2::Api"
    NOTE = (
        "HTTP APIs: routes and integrations from Body (OpenAPI) or from Route/Integration "
        "resources; requests are not served"
    )

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account: str, region: str) -> _Emulated:
        if props.get("BodyS3Location"):
            location = props["BodyS3Location"]
            props["Body"] = json.loads(
                seams.read_s3_object(location["Bucket"], location["Key"], location.get("Version"))
            )
        body = props.get("Body") or {}
        title = (body.get("info") or {}).get("title") if isinstance(body, dict) else None
        protocol = props.get("ProtocolType") or "HTTP"
        backend = _v2(account, region)
        api = backend.create_api(
            api_key_selection_expression=props.get("ApiKeySelectionExpression"),
            cors_configuration=props.get("CorsConfiguration"),
            description=props.get("Description") or (body.get("info") or {}).get("description"),
            disable_schema_validation=props.get("DisableSchemaValidation"),
            disable_execute_api_endpoint=props.get("DisableExecuteApiEndpoint"),
            name=props.get("Name") or title or name,
            protocol_type=protocol,
            route_selection_expression=props.get("RouteSelectionExpression"),
            tags=props.get("Tags") or {},
            version=props.get("Version"),
        )
        if isinstance(body, dict) and body.get("paths"):
            backend.reimport_api(api.api_id, json.dumps(body), fail_on_warnings=False)
        endpoint = f"https://{api.api_id}.execute-api.{region}.amazonaws.com"
        return cls(api.api_id, {"ApiId": api.api_id, "ApiEndpoint": endpoint}, props)

    def remove(self, account: str, region: str) -> None:
        _v2(account, region).delete_api(self.physical_resource_id)


class HttpApiStage(_Emulated):
    TYPE = "AWS::ApiGatewayV2::Stage"
    NOTE = "kept on its API; AutoDeploy, throttling and access logs are recorded, not applied"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account: str, region: str) -> _Emulated:
        stage_name = props.get("StageName") or "$default"
        config = {
            "stageName": stage_name,
            "autoDeploy": props.get("AutoDeploy", False),
            "description": props.get("Description", ""),
            "stageVariables": props.get("StageVariables") or {},
            "tags": props.get("Tags") or {},
        }
        if props.get("DeploymentId"):
            config["deploymentId"] = props["DeploymentId"]
        _v2(account, region).create_stage(props["ApiId"], config)
        return cls(stage_name, {}, props)

    def remove(self, account: str, region: str) -> None:
        try:
            _v2(account, region).delete_stage(self.props["ApiId"], self.physical_resource_id)
        except Exception:  # the API went first
            return


class HttpApiIntegration(_Emulated):
    TYPE = "AWS::ApiGatewayV2::Integration"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account: str, region: str) -> _Emulated:
        integration = _v2(account, region).create_integration(
            api_id=props["ApiId"],
            connection_id=props.get("ConnectionId"),
            connection_type=props.get("ConnectionType"),
            content_handling_strategy=props.get("ContentHandlingStrategy"),
            credentials_arn=props.get("CredentialsArn"),
            description=props.get("Description"),
            integration_method=props.get("IntegrationMethod"),
            integration_subtype=props.get("IntegrationSubtype"),
            integration_type=props.get("IntegrationType"),
            integration_uri=props.get("IntegrationUri"),
            passthrough_behavior=props.get("PassthroughBehavior"),
            payload_format_version=props.get("PayloadFormatVersion"),
            request_parameters=props.get("RequestParameters"),
            request_templates=props.get("RequestTemplates"),
            response_parameters=props.get("ResponseParameters"),
            template_selection_expression=props.get("TemplateSelectionExpression"),
            timeout_in_millis=props.get("TimeoutInMillis"),
            tls_config=props.get("TlsConfig"),
        )
        return cls(integration.id, {"IntegrationId": integration.id}, props)

    def remove(self, account: str, region: str) -> None:
        try:
            _v2(account, region).delete_integration(self.props["ApiId"], self.physical_resource_id)
        except Exception:
            return


class HttpApiRoute(_Emulated):
    TYPE = "AWS::ApiGatewayV2::Route"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account: str, region: str) -> _Emulated:
        route = _v2(account, region).create_route(
            api_id=props["ApiId"],
            api_key_required=bool(props.get("ApiKeyRequired", False)),
            authorization_scopes=props.get("AuthorizationScopes") or [],
            authorization_type=props.get("AuthorizationType"),
            authorizer_id=props.get("AuthorizerId"),
            model_selection_expression=props.get("ModelSelectionExpression"),
            operation_name=props.get("OperationName"),
            request_models=props.get("RequestModels"),
            request_parameters=props.get("RequestParameters"),
            route_key=props["RouteKey"],
            route_response_selection_expression=props.get("RouteResponseSelectionExpression"),
            target=props.get("Target"),
        )
        return cls(route.route_id, {"RouteId": route.route_id}, props)

    def remove(self, account: str, region: str) -> None:
        try:
            _v2(account, region).delete_route(self.props["ApiId"], self.physical_resource_id)
        except Exception:
            return


class RestApiStage(_Emulated):
    TYPE = "AWS::ApiGateway::Stage"
    NOTE = "a stage of the REST API pointing at its deployment"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account: str, region: str) -> _Emulated:
        backend = seams.resolve("apigateway_backends")[account][region]
        stage_name = props["StageName"]
        api = backend.get_rest_api(props["RestApiId"])
        if stage_name not in api.stages:
            backend.create_stage(
                props["RestApiId"],
                stage_name,
                props.get("DeploymentId"),
                variables=props.get("Variables"),
                description=props.get("Description", ""),
                tracing_enabled=str(props.get("TracingEnabled", False)).lower() == "true",
            )
        return cls(stage_name, {}, props)

    def remove(self, account: str, region: str) -> None:
        backend = seams.resolve("apigateway_backends")[account][region]
        try:
            backend.delete_stage(self.props["RestApiId"], self.physical_resource_id)
        except Exception:
            return


class MetricAlarm(_Emulated):
    TYPE = "AWS::CloudWatch::Alarm"
    NAME_PROPERTY = "AlarmName"
    NOTE = (
        "created in CloudWatch (single-metric fields); metric-math alarms are kept without "
        "their queries; never evaluated"
    )

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account: str, region: str) -> _Emulated:
        backend = seams.resolve("cloudwatch_backends")[account][region]
        alarm = backend.put_metric_alarm(
            name=name,
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            comparison_operator=props.get("ComparisonOperator"),
            evaluation_periods=int(props.get("EvaluationPeriods", 1)),
            period=int(props.get("Period", 60)),
            threshold=float(props.get("Threshold", 0)),
            statistic=props.get("Statistic"),
            description=props.get("AlarmDescription", ""),
            dimensions=[
                {"Name": d.get("Name"), "Value": d.get("Value")}
                for d in props.get("Dimensions") or []
            ],
            alarm_actions=props.get("AlarmActions") or [],
            ok_actions=props.get("OKActions") or [],
            treat_missing_data=props.get("TreatMissingData"),
        )
        return cls(name, {"Arn": alarm.alarm_arn}, props)

    def remove(self, account: str, region: str) -> None:
        seams.resolve("cloudwatch_backends")[account][region].delete_alarms(
            [self.physical_resource_id]
        )


class BucketPolicy(_Emulated):
    TYPE = "AWS::S3::BucketPolicy"
    NOTE = "accepted and kept on the stack, NOT enforced (moto would enforce it without conditions)"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account: str, region: str) -> _Emulated:
        return cls(f"{props.get('Bucket')}-policy-{uuid.uuid4().hex[:8]}", {}, props)


class QueuePolicy(BucketPolicy):
    TYPE = "AWS::SQS::QueuePolicy"
    NOTE = "accepted and kept on the stack, NOT enforced"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account: str, region: str) -> _Emulated:
        return cls(f"{name}-{uuid.uuid4().hex[:8]}", {}, props)


class TopicPolicy(QueuePolicy):
    TYPE = "AWS::SNS::TopicPolicy"


class LambdaUrl(_Emulated):
    TYPE = "AWS::Lambda::Url"
    NOTE = (
        "created in Lambda (FunctionUrl; AuthType, InvokeMode and Cors recorded); requests "
        "are not served"
    )

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account: str, region: str) -> _Emulated:
        backend = seams.resolve("lambda_backend")(account, region)
        config = {k: props[k] for k in ("AuthType", "InvokeMode", "Cors") if k in props}
        created = backend.create_function_url_config(str(props["TargetFunctionArn"]), config)
        view = created.to_dict()
        arn, url = view["FunctionArn"], view["FunctionUrl"]
        return cls(arn, {"FunctionArn": arn, "FunctionUrl": url}, props)

    def remove(self, account: str, region: str) -> None:
        backend = seams.resolve("lambda_backend")(account, region)
        try:
            backend.delete_function_url_config(str(self.props["TargetFunctionArn"]))
        except Exception:
            return


class SnsSubscription(_Emulated):
    TYPE = "AWS::SNS::Subscription"
    NOTE = (
        "created in SNS with its attributes (FilterPolicy, RawMessageDelivery...); messages "
        "published to the topic reach SQS and Lambda endpoints"
    )
    ATTRIBUTES = (
        "DeliveryPolicy",
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
        "RedrivePolicy",
    )

    @staticmethod
    def _backend(topic_arn: str) -> Any:
        # The topic's own account and region (a subscription may name another region's).
        parts = topic_arn.split(":")
        return seams.resolve("sns_backends")[parts[4]][parts[3]]

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account: str, region: str) -> _Emulated:
        topic = str(props["TopicArn"])
        backend = cls._backend(topic)
        subscription = backend.subscribe(
            topic, str(props.get("Endpoint") or ""), str(props["Protocol"]).lower()
        )
        for key in cls.ATTRIBUTES:
            if key in props:
                value = props[key]
                if isinstance(value, bool):
                    value = "true" if value else "false"
                elif isinstance(value, dict | list):
                    value = json.dumps(value)
                backend.set_subscription_attributes(subscription.arn, key, str(value))
        return cls(subscription.arn, {"Arn": subscription.arn}, props)

    def remove(self, account: str, region: str) -> None:
        self._backend(str(self.props["TopicArn"])).unsubscribe(self.physical_resource_id)


EMULATED: dict[str, type[_Emulated]] = {
    cls.TYPE: cls
    for cls in (
        HttpApi,
        HttpApiStage,
        HttpApiIntegration,
        HttpApiRoute,
        RestApiStage,
        MetricAlarm,
        BucketPolicy,
        QueuePolicy,
        TopicPolicy,
        LambdaUrl,
        SnsSubscription,
    )
}
