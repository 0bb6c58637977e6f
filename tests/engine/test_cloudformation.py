"""CloudFormation realism: durations, Outputs, no-changes, refusals, SAM deploys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from stackrelay_local import LocalEngine
from stackrelay_local.cfn import NO_CHANGES_REASON


def _status(cfn, name: str) -> str:  # type: ignore[no-untyped-def]
    return str(cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])


def test_change_set_create_new_stack_passes_through_review_and_in_progress(
    local_engine: LocalEngine, queue_template: str
) -> None:
    local_engine.set_stack_seconds(120)
    cfn = local_engine.client("cloudformation", "dev")
    cs = cfn.create_change_set(
        StackName="app", ChangeSetName="c1", TemplateBody=queue_template, ChangeSetType="CREATE"
    )
    assert _status(cfn, "app") == "REVIEW_IN_PROGRESS"
    assert cfn.describe_change_set(ChangeSetName=cs["Id"])["Status"] == "CREATE_IN_PROGRESS"

    local_engine.clock.advance(5)
    described = cfn.describe_change_set(ChangeSetName=cs["Id"])
    assert (described["Status"], described["ExecutionStatus"]) == ("CREATE_COMPLETE", "AVAILABLE")

    cfn.execute_change_set(ChangeSetName=cs["Id"])
    assert _status(cfn, "app") == "CREATE_IN_PROGRESS"
    assert (
        cfn.describe_change_set(ChangeSetName=cs["Id"])["ExecutionStatus"] == "EXECUTE_IN_PROGRESS"
    )
    local_engine.clock.advance(119)
    assert _status(cfn, "app") == "CREATE_IN_PROGRESS"
    local_engine.clock.advance(1)
    stack = cfn.describe_stacks(StackName="app")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["Outputs"][0]["OutputKey"] == "QueueUrl"
    assert cfn.describe_change_set(ChangeSetName=cs["Id"])["ExecutionStatus"] == "EXECUTE_COMPLETE"


def test_stack_update_sixty_minutes_completes_on_simulated_clock(
    local_engine: LocalEngine, queue_template: str
) -> None:
    cfn = local_engine.client("cloudformation", "staging")
    cfn.create_stack(StackName="slow", TemplateBody=queue_template)
    local_engine.wait_stack("slow", "staging")
    local_engine.set_stack_seconds(3600, stack="slo*")
    started = local_engine.clock.now()

    cfn.update_stack(
        StackName="slow",
        TemplateBody=queue_template,
        Parameters=[{"ParameterKey": "Label", "ParameterValue": "two"}],
    )
    assert _status(cfn, "slow") == "UPDATE_IN_PROGRESS"
    assert local_engine.wait_stack("slow", "staging") == "UPDATE_COMPLETE"
    assert local_engine.clock.now() - started == pytest.approx(3600, abs=1)
    statuses = [
        e["ResourceStatus"] for e in cfn.describe_stack_events(StackName="slow")["StackEvents"]
    ]
    assert statuses[0] == "UPDATE_COMPLETE"
    assert "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS" in statuses


def test_stack_events_newest_first_hidden_until_their_time(
    local_engine: LocalEngine, queue_template: str
) -> None:
    local_engine.set_stack_seconds(100)
    cfn = local_engine.client("cloudformation", "dev")
    cfn.create_stack(StackName="ev", TemplateBody=queue_template)
    early = cfn.describe_stack_events(StackName="ev")["StackEvents"]
    assert [e["ResourceStatus"] for e in early] == ["CREATE_IN_PROGRESS"]
    local_engine.clock.advance(100)
    events = cfn.describe_stack_events(StackName="ev")["StackEvents"]
    stamps = [e["Timestamp"] for e in events]
    assert stamps == sorted(stamps, reverse=True)
    assert events[0]["ResourceStatus"] == "CREATE_COMPLETE"
    assert {("Queue", "CREATE_COMPLETE"), ("Table", "CREATE_COMPLETE")} <= {
        (e["LogicalResourceId"], e["ResourceStatus"]) for e in events
    }
    assert (stamps[0] - stamps[-1]).total_seconds() == pytest.approx(100, abs=1)


@pytest.mark.parametrize("form", ["body", "url", "body-params-omitted", "previous-template"])
def test_change_set_no_changes_fails_with_aws_reason_whatever_the_form(
    local_engine: LocalEngine, queue_template: str, form: str
) -> None:
    s3 = local_engine.client("s3", "orchestrator")
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="t.json", Body=queue_template)
    cfn = local_engine.client("cloudformation", "dev")
    params = [{"ParameterKey": "Label", "ParameterValue": "one"}]
    cfn.create_stack(StackName="same", TemplateBody=queue_template, Parameters=params)
    local_engine.wait_stack("same", "dev")

    request: dict[str, object] = {
        "StackName": "same",
        "ChangeSetName": "again",
        "ChangeSetType": "UPDATE",
    }
    if form == "body":
        request.update(TemplateBody=queue_template, Parameters=params)
    elif form == "url":
        request.update(TemplateURL="https://artifacts.s3.amazonaws.com/t.json", Parameters=params)
    elif form == "body-params-omitted":
        request.update(TemplateBody=queue_template)
    else:
        request.update(
            UsePreviousTemplate=True,
            Parameters=[{"ParameterKey": "Label", "UsePreviousValue": True}],
        )
    cs = cfn.create_change_set(**request)
    local_engine.clock.advance(5)
    described = cfn.describe_change_set(ChangeSetName=cs["Id"])
    assert described["Status"] == "FAILED"
    assert described["ExecutionStatus"] == "UNAVAILABLE"
    assert described["StatusReason"] == NO_CHANGES_REASON


def test_execute_change_set_failed_is_refused_invalid_status(
    local_engine: LocalEngine, queue_template: str
) -> None:
    cfn = local_engine.client("cloudformation", "dev")
    cfn.create_stack(StackName="s", TemplateBody=queue_template)
    local_engine.wait_stack("s", "dev")
    cs = cfn.create_change_set(
        StackName="s", ChangeSetName="noop", TemplateBody=queue_template, ChangeSetType="UPDATE"
    )
    local_engine.clock.advance(5)
    with pytest.raises(ClientError) as raised:
        cfn.execute_change_set(ChangeSetName=cs["Id"])
    assert raised.value.response["Error"]["Code"] == "InvalidChangeSetStatus"


def test_execute_change_set_still_creating_is_refused(
    local_engine: LocalEngine, queue_template: str
) -> None:
    cfn = local_engine.client("cloudformation", "dev")
    cs = cfn.create_change_set(StackName="early", ChangeSetName="c", TemplateBody=queue_template)
    with pytest.raises(ClientError) as raised:
        cfn.execute_change_set(ChangeSetName=cs["Id"])
    assert raised.value.response["Error"]["Code"] == "InvalidChangeSetStatus"


def test_change_set_create_for_existing_stack_raises_already_exists(
    local_engine: LocalEngine, queue_template: str
) -> None:
    cfn = local_engine.client("cloudformation", "dev")
    cfn.create_stack(StackName="dup", TemplateBody=queue_template)
    local_engine.wait_stack("dup", "dev")
    with pytest.raises(ClientError) as raised:
        cfn.create_change_set(
            StackName="dup", ChangeSetName="c", TemplateBody=queue_template, ChangeSetType="CREATE"
        )
    assert raised.value.response["Error"]["Code"] == "AlreadyExistsException"
    with pytest.raises(ClientError) as again:
        cfn.create_stack(StackName="dup", TemplateBody=queue_template)
    assert again.value.response["Error"]["Code"] == "AlreadyExistsException"


def test_update_stack_while_in_progress_is_refused(
    local_engine: LocalEngine, queue_template: str
) -> None:
    cfn = local_engine.client("cloudformation", "dev")
    cfn.create_stack(StackName="busy", TemplateBody=queue_template)
    with pytest.raises(ClientError, match="CREATE_IN_PROGRESS state and can not be updated"):
        cfn.update_stack(
            StackName="busy",
            TemplateBody=queue_template,
            Parameters=[{"ParameterKey": "Label", "ParameterValue": "x"}],
        )


def test_delete_stack_in_progress_then_gone_by_name_but_described_by_id(
    local_engine: LocalEngine, queue_template: str
) -> None:
    cfn = local_engine.client("cloudformation", "dev")
    stack_id = cfn.create_stack(StackName="gone", TemplateBody=queue_template)["StackId"]
    local_engine.wait_stack("gone", "dev")
    cfn.delete_stack(StackName="gone")
    assert _status(cfn, "gone") == "DELETE_IN_PROGRESS"
    local_engine.clock.advance(30)
    with pytest.raises(ClientError, match="Stack with id gone does not exist"):
        cfn.describe_stacks(StackName="gone")
    assert _status(cfn, stack_id) == "DELETE_COMPLETE"


def test_deploy_app_by_change_set_creates_function_and_table_in_target_account(
    local_engine: LocalEngine, fixture_app: Path
) -> None:
    outputs = local_engine.deploy_app(fixture_app, stack_name="fixture-dev", account="dev")
    assert set(outputs) == {"TableName", "RecordFunctionArn", "StateMachineArn"}
    assert ":111111111111:" in outputs["RecordFunctionArn"]
    dev = local_engine.session("dev")
    assert outputs["TableName"] in dev.client("dynamodb").list_tables()["TableNames"]
    functions = dev.client("lambda").list_functions()["Functions"]
    assert {f["Handler"] for f in functions} == {
        "app.record_handler",
        "app.flaky_handler",
        "app.approval_handler",
    }
    config = dev.client("lambda").get_function_configuration(
        FunctionName=outputs["RecordFunctionArn"]
    )
    assert config["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "engine-fixture"
    assert config["Environment"]["Variables"]["STAGE"] == "dev"
    assert local_engine.session("orchestrator").client("lambda").list_functions()["Functions"] == []


def test_deploy_app_handler_runs_real_code_in_its_account(
    local_engine: LocalEngine, fixture_app: Path
) -> None:
    outputs = local_engine.deploy_app(
        fixture_app, stack_name="fixture-stg", parameters={"Stage": "staging"}, account="staging"
    )
    lam = local_engine.client("lambda", "staging")
    reply = lam.invoke(FunctionName=outputs["RecordFunctionArn"], Payload=json.dumps({"name": "x"}))
    body = json.loads(reply["Payload"].read())
    assert body["id"] == "item-x"
    assert body["stage"] == "staging"
    item = local_engine.client("dynamodb", "staging").get_item(
        TableName=outputs["TableName"], Key={"pk": {"S": "item-x"}}
    )
    assert item["Item"]["stage"]["S"] == "staging"


def test_deploy_app_again_unchanged_returns_outputs_without_update(
    local_engine: LocalEngine, fixture_app: Path
) -> None:
    first = local_engine.deploy_app(fixture_app, stack_name="twice", account="dev")
    second = local_engine.deploy_app(fixture_app, stack_name="twice", account="dev")
    assert first == second
    cfn = local_engine.client("cloudformation", "dev")
    assert _status(cfn, "twice") == "CREATE_COMPLETE"


def test_deploy_app_unresolved_substitution_raises_naming_it(
    local_engine: LocalEngine, fixture_app: Path, tmp_path: Path
) -> None:
    app = tmp_path / "app"
    (app / "statemachine").mkdir(parents=True)
    (app / "src").mkdir()
    (app / "statemachine" / "m.asl.json").write_text(
        json.dumps(
            {
                "StartAt": "A",
                "States": {"A": {"Type": "Task", "Resource": "${MissingArn}", "End": True}},
            }
        )
    )
    (app / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  M:\n"
        "    Type: AWS::Serverless::StateMachine\n    Properties:\n"
        "      DefinitionUri: statemachine/m.asl.json\n      DefinitionSubstitutions:\n"
        "        OtherArn: x\n"
    )
    with pytest.raises(ValueError, match=r"\$\{MissingArn\}"):
        local_engine.deploy_app(app / "template.yaml", stack_name="bad")


def test_template_url_in_orchestrator_bucket_deploys_packaged_app_in_target(
    local_engine: LocalEngine, fixture_app: Path
) -> None:
    """A packaged SAM app (CodeUri s3://...) from the orchestrator's bucket, in dev."""
    s3 = local_engine.client("s3", "orchestrator")
    s3.create_bucket(Bucket="central-artifacts")
    from stackrelay_local.sam import zip_folder

    s3.put_object(
        Bucket="central-artifacts", Key="code.zip", Body=zip_folder(fixture_app.parent / "src")
    )
    packaged = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Table": {
                "Type": "AWS::Serverless::SimpleTable",
                "Properties": {"PrimaryKey": {"Name": "pk", "Type": "String"}},
            },
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Runtime": "python3.11",
                    "Handler": "app.record_handler",
                    "CodeUri": "s3://central-artifacts/code.zip",
                    "Environment": {"Variables": {"TABLE_NAME": {"Ref": "Table"}}},
                },
            },
        },
        "Outputs": {"FnArn": {"Value": {"Fn::GetAtt": ["Fn", "Arn"]}}},
    }
    s3.put_object(Bucket="central-artifacts", Key="app/packaged.yaml", Body=json.dumps(packaged))
    cfn = local_engine.client("cloudformation", "dev")
    cs = cfn.create_change_set(
        StackName="packaged",
        ChangeSetName="c1",
        ChangeSetType="CREATE",
        TemplateURL="https://central-artifacts.s3.us-east-1.amazonaws.com/app/packaged.yaml",
    )
    local_engine.clock.advance(5)
    cfn.execute_change_set(ChangeSetName=cs["Id"])
    assert local_engine.wait_stack("packaged", "dev") == "CREATE_COMPLETE"
    arn = cfn.describe_stacks(StackName="packaged")["Stacks"][0]["Outputs"][0]["OutputValue"]
    assert ":111111111111:" in arn
    reply = local_engine.client("lambda", "dev").invoke(FunctionName=arn, Payload=b'{"name": "z"}')
    body = json.loads(reply["Payload"].read())
    assert body.get("id") == "item-z", body


def test_termination_protection_blocks_delete_until_disabled(
    local_engine: LocalEngine, queue_template: str
) -> None:
    cfn = local_engine.client("cloudformation", "prod")
    cfn.create_stack(StackName="guarded", TemplateBody=queue_template)
    local_engine.wait_stack("guarded", "prod")
    cfn.update_termination_protection(StackName="guarded", EnableTerminationProtection=True)
    assert cfn.describe_stacks(StackName="guarded")["Stacks"][0]["EnableTerminationProtection"]
    with pytest.raises(ClientError, match="TerminationProtection is enabled"):
        cfn.delete_stack(StackName="guarded")
    cfn.update_termination_protection(StackName="guarded", EnableTerminationProtection=False)
    cfn.delete_stack(StackName="guarded")
    assert local_engine.wait_stack("guarded", "prod") == "DELETE_COMPLETE"


def test_deploy_app_with_api_event_creates_rest_api_with_methods(
    local_engine: LocalEngine, fixture_app: Path, tmp_path: Path
) -> None:
    """The common SAM shape: an Api event makes an implicit ServerlessRestApi."""
    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        f"      CodeUri: {fixture_app.parent / 'src'}\n"
        "      Handler: app.record_handler\n"
        "      Runtime: python3.11\n"
        "      Events:\n"
        "        Get:\n"
        "          Type: Api\n"
        "          Properties: {Path: /items, Method: get}\n"
        "Outputs:\n"
        "  ApiId:\n"
        "    Value: !Ref ServerlessRestApi\n"
    )
    outputs = local_engine.deploy_app(template, stack_name="api", account="dev")
    apigw = local_engine.client("apigateway", "dev")
    paths = {r["path"] for r in apigw.get_resources(restApiId=outputs["ApiId"])["items"]}
    assert "/items" in paths


def test_list_change_sets_only_that_stack_and_not_executed_ones(
    local_engine: LocalEngine, queue_template: str
) -> None:
    cfn = local_engine.client("cloudformation", "dev")
    first = cfn.create_change_set(StackName="one", ChangeSetName="c1", TemplateBody=queue_template)
    cfn.create_change_set(StackName="two", ChangeSetName="c2", TemplateBody=queue_template)
    local_engine.clock.advance(5)
    assert [s["ChangeSetName"] for s in cfn.list_change_sets(StackName="two")["Summaries"]] == [
        "c2"
    ]
    cfn.execute_change_set(ChangeSetName=first["Id"])
    local_engine.wait_stack("one", "dev")
    assert cfn.list_change_sets(StackName="one")["Summaries"] == []
