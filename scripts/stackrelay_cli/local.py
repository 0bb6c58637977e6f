"""``stackrelay local``: the whole product on the local engine.

``bootstrap`` sets up what docs/setup.md sets up on AWS, from the same
templates: the artifact bucket, the orchestrator (template.yaml) and the
target-account roles in dev, staging and prod. ``release`` then drives any SAM
app through the same CLI code paths CI uses; ``demo`` tells the whole story
on the sample app.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from argparse import Namespace
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackrelay import naming, statenames
from stackrelay import topology as topology_defaults

from stackrelay_cli import commands, progress, render
from stackrelay_cli.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_INVALID, EXIT_OK, CliError
from stackrelay_cli.orchestrator import Orchestrator

ROOT = Path(__file__).resolve().parents[2]
STAGES = topology_defaults.default_names()
"""The default topology's stages (without --topology)."""
WAITING = progress.WAITING_STEPS[statenames.WAIT_FOR_APPROVAL]
ORCHESTRATOR_STACK = "stackrelay"
PROJECT_ID = "4242"
"""The GitLab project id local releases run as (project path local/<app>)."""


@dataclass
class LocalOrchestrator:
    """The orchestrator as deployed on a local engine."""

    engine: Any
    outputs: dict[str, str]
    bucket: str
    roles: dict[str, dict[str, str]] = field(default_factory=dict)
    apps: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    """Per app and target-account key: the outputs of setup/target-app.yaml."""

    @property
    def orchestrator(self) -> Orchestrator:
        o = self.outputs
        return Orchestrator(
            state_machine_arn=o["DeployStateMachineArn"],
            teardown_state_machine_arn=o.get("TeardownStateMachineArn", ""),
            approval_function=o["ApprovalFunctionName"],
            operations_function=o.get("OperationsFunctionName", ""),
            bucket=self.bucket,
            start_function=o.get("StartFunctionName", ""),
            table=o.get("TableName", ""),
        )

    def table(self) -> Any:
        session = self.engine.session("orchestrator")
        endpoint = getattr(self.engine, "endpoint_url", None)  # the server's, if remote
        return session.resource("dynamodb", endpoint_url=endpoint).Table(self.outputs["TableName"])

    def register(self, app: str, project_path: str, project_id: str) -> dict[str, Any]:
        """What an administrator does once per app (`stackrelay register`, docs/setup.md
        step 4), and the app's isolation in every target account (step 3b)."""
        from stackrelay import registry

        item = registry.register(
            self.table(), app, project_id, project_path, by="stackrelay-local", replace=True
        )
        self.isolate(app)
        return item

    def isolate(self, app: str) -> dict[str, dict[str, str]]:
        """Deploy setup/target-app.yaml for ``app`` in dev, staging and prod (once).

        The app's own execution role and boundary: its stacks run with a role that can
        touch only its resources, as on AWS.
        """
        if app not in self.apps:
            self.apps[app] = {
                stage: self.engine.deploy_app(
                    ROOT / "setup" / "target-app.yaml",
                    stack_name=app_setup_stack(app),
                    account=account,
                    parameters={"AppName": app, "ArtifactBucketName": self.bucket},
                )
                for account, stage in _first_names(self.engine.config.accounts).items()
            }
        return self.apps[app]

    def token(self, **claims: Any) -> str:
        """A GitLab ID token from the engine's issuer (LocalIssuer.claims' arguments)."""
        return str(self.engine.mint_token(**claims))


def _first_names(accounts: dict[str, str]) -> dict[str, str]:
    """Each account id once, with the first name (stage) it has: stages share accounts."""
    return {account: name for name, account in reversed(accounts.items())}


def app_setup_stack(app: str) -> str:
    """The stack of setup/target-app.yaml for ``app`` (docs/setup.md, step 3b)."""
    return f"stackrelay-app-{app}"


def bootstrap(
    engine: Any,
    root: Path = ROOT,
    parameters: dict[str, str] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> LocalOrchestrator:
    """Deploy setup/ and template.yaml into the engine's accounts (docs/setup.md).

    The target accounts and regions are the engine's topology (``EngineConfig.topology``,
    passed to the orchestrator as its Topology and DeployAccountIds parameters) or the
    default three accounts: target-account.yaml once per account in the orchestrator's
    region, target-region.yaml in each further region a stage deploys that account to,
    artifact-bucket.yaml in the orchestrator's region and again (the regional copy) in
    each further region.
    """
    from stackrelay.artifacts import regional_bucket

    config = engine.config
    accounts = config.target_accounts()
    say("artifact bucket (setup/artifact-bucket.yaml) in the orchestrator account")
    bucket = engine.deploy_app(
        root / "setup" / "artifact-bucket.yaml",
        stack_name="stackrelay-artifacts",
        parameters={"DeployAccountIds": ",".join(accounts)},
    )["ArtifactBucketName"]
    # Lambda reads code only in its own region: each further region gets the bucket's
    # copy (the deploy's Verify Artifact copies every artifact there).
    for region in sorted({region for _, region in config.places()} - {config.region}):
        say(f"artifact bucket copy (setup/artifact-bucket.yaml) in {region}")
        engine.deploy_app(
            root / "setup" / "artifact-bucket.yaml",
            stack_name="stackrelay-artifacts",
            region=region,
            parameters={
                "DeployAccountIds": ",".join(accounts),
                "BucketName": regional_bucket(bucket, region, config.region),
            },
        )
    if config.topology is not None:
        where = {
            "Topology": topology_defaults.parse(config.topology).dumps(),
            "DeployAccountIds": ",".join(accounts),
        }
    else:
        # The default topology's account parameters, in its account order.
        parameter_names = ("DevAccountId", "StagingAccountId", "ProdAccountId")
        keys = topology_defaults.DEFAULT_ACCOUNT_KEYS
        where = {
            name: config.accounts[key] for name, key in zip(parameter_names, keys, strict=True)
        }
    say("orchestrator (template.yaml): state machines, tasks, table")
    outputs = engine.deploy_app(
        root / "template.yaml",
        stack_name=ORCHESTRATOR_STACK,
        parameters={
            **where,
            "TargetRegion": config.region,
            "ArtifactBucketName": bucket,
            # The engine's own GitLab: tokens are verified, never bypassed.
            "TokenIssuer": engine.issuer_url,
            **(parameters or {}),
        },
    )
    names = _first_names(config.accounts)
    roles = {}
    for account in accounts:
        say(f"deploy role (setup/target-account.yaml) in {account}")
        roles[names.get(account, account)] = engine.deploy_app(
            root / "setup" / "target-account.yaml",
            stack_name="stackrelay-target",
            account=account,
            parameters={
                "OrchestratorAccountId": config.orchestrator_account,
                "ArtifactBucketName": bucket,
            },
        )
    for account, region in config.places():
        if region != config.region:
            say(f"stack event forwarding (setup/target-region.yaml) in {account} {region}")
            engine.deploy_app(
                root / "setup" / "target-region.yaml",
                stack_name="stackrelay-target-region",
                account=account,
                region=region,
                parameters={
                    "OrchestratorAccountId": config.orchestrator_account,
                    "OrchestratorRegion": config.region,
                },
            )
    return LocalOrchestrator(engine=engine, outputs=outputs, bucket=bucket, roles=roles)


def require_engine() -> None:
    """The local engine's dependencies (moto, aws-sam-translator) are an extra."""
    try:
        import moto  # noqa: F401
        import samtranslator  # noqa: F401
    except ImportError as exc:
        raise CliError(
            f"The local engine is not installed ({exc.name} is missing): "
            "pip install 'stackrelay[local]' (in a checkout: make install)."
        ) from None


def _engine(stack_seconds: float, topology: Any = None) -> Any:
    require_engine()
    from stackrelay_local import EngineConfig, LocalEngine

    where = {} if topology is None else {"topology": topology.to_dict()}
    return LocalEngine(EngineConfig(stack_seconds=stack_seconds, **where))


def run(args: Namespace) -> int:
    if args.local_command == "up":
        require_engine()
        from stackrelay_local.__main__ import main as serve

        return int(serve(["up", "--port", str(args.port)]) or 0)
    gitlab = GitLabTarget.from_args(args)
    if args.local_command == "release":
        topology = None
        if getattr(args, "topology", None):
            from stackrelay_cli import topology_file

            topology = topology_file.load(args.topology)
        return release(
            Path(args.app),
            args.name,
            args.stack_seconds,
            args.json,
            gitlab,
            parameters=parse_parameters(args.parameter, _stage_names(topology)),
            use_container=args.use_container,
            topology=topology,
        )
    return demo(args.stack_seconds, args.json, gitlab)


# -- reporting to GitLab -----------------------------------------------------------

GITLAB_TOKEN_ENV = "STACKRELAY_GITLAB_TOKEN"
GITLAB_SECRET_NAME = "stackrelay/gitlab-token"


@dataclass
class GitLabTarget:
    """``--gitlab-url`` and the token from STACKRELAY_GITLAB_TOKEN (never printed)."""

    url: str
    token: str = field(repr=False)

    @classmethod
    def from_args(cls, args: Namespace) -> GitLabTarget | None:
        url = getattr(args, "gitlab_url", None)
        if not url:
            return None
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", url):
            raise CliError(
                f"--gitlab-url {url!r} is not an http(s) URL (e.g. https://gitlab.example.com).",
                EXIT_INVALID,
            )
        token = os.environ.get(GITLAB_TOKEN_ENV, "").strip()
        if not token:
            raise CliError(
                f"--gitlab-url needs a GitLab access token (scope api) in {GITLAB_TOKEN_ENV}.",
                EXIT_CONFIG,
            )
        return cls(url=url.rstrip("/"), token=token)

    def parameters(self, engine: Any) -> dict[str, str]:
        """Store the token in the engine's Secrets Manager; the orchestrator's parameters."""
        secrets = engine.client("secretsmanager")
        try:
            arn = secrets.create_secret(Name=GITLAB_SECRET_NAME, SecretString=self.token)["ARN"]
        except secrets.exceptions.ResourceExistsException:
            arn = secrets.put_secret_value(SecretId=GITLAB_SECRET_NAME, SecretString=self.token)[
                "ARN"
            ]
        return {"GitLabUrl": self.url, "GitLabTokenSecretArn": arn}

    def summary(self, engine: Any) -> dict[str, Any]:
        """Wait for the reports still under way; what reached the reporter."""
        events = engine.events
        for _ in range(3):  # deliveries are due a moment (simulated) after their event
            engine.clock.advance(5)
            events.wait_idle(timeout=120)
        deliveries = events.deliveries(source="stackrelay", target="*ReportGitLab*")
        outcomes = [d.outcome for d in deliveries]
        return {
            "url": self.url,
            "events": len(outcomes),
            "delivered": outcomes.count("delivered"),
            "failed": len(outcomes) - outcomes.count("delivered"),
        }


# -- the story ---------------------------------------------------------------------


@dataclass
class Release:
    """One app's way through the local engine, step by step."""

    local: LocalOrchestrator
    app_dir: Path
    app: str
    quiet: bool = False
    use_container: bool = False
    prebuilt: tuple[Path, str] | None = None  # (template, by whom): built before the engine
    pipeline: int = 100
    finished: list[dict[str, Any]] = field(default_factory=list)
    _boto: Any = None

    def say(self, text: str) -> None:
        if not self.quiet:
            render.console.print(f"[bold blue]==>[/] {text}")

    def _session(self) -> Any:
        """One session for the whole story (each new one re-reads service models)."""
        if self._boto is None:
            import boto3

            self._boto = boto3.Session(region_name=self.local.engine.config.region)
        return self._boto

    def _args(self, **values: Any) -> Namespace:
        defaults = {
            "json": self.quiet,
            "wait": True,
            "until": None,
            "bucket": None,
            "artifact_file": None,
            "artifact_key": None,
            "artifact_sha256": None,
        }
        return Namespace(**{**defaults, **values})

    def publish(self) -> dict[str, str]:
        from stackrelay_cli import build

        self.say(f"publish {self.app_dir} (SAM CLI build and package, pinned by version)")
        try:
            artifact = build.publish(
                self.app_dir,
                self.app,
                self._session(),
                self.local.bucket,
                sam_endpoint_url=self.local.engine.http_endpoint(),
                use_container=self.use_container,
                prebuilt=self.prebuilt,
            )
        except build.BuildError as exc:
            raise CliError(str(exc), exc.code) from None
        if not self.quiet:
            render.console.print(
                f"    s3://{artifact.bucket}/{artifact.key}  built by {artifact.built_by}; "
                f"{len(artifact.objects)} pinned object(s), {len(artifact.uploaded)} uploaded, "
                f"{len(artifact.reused)} reused"
            )
        return artifact.as_input()

    @property
    def project(self) -> str:
        return f"local/{self.app}"

    def register(self) -> None:
        self.local.register(self.app, self.project, PROJECT_ID)

    def token(self, ref: str, commit: str, environment: str | None = None) -> str:
        """The job's ID token, as GitLab would mint it for this pipeline."""
        return self.local.token(
            project_path=self.project,
            project_id=PROJECT_ID,
            ref=ref,
            pipeline_id=self.pipeline,
            sha=commit,
            user_login=os.environ.get("USER") or "you",
            environment=environment,
        )

    def start(
        self,
        ref: str,
        artifact: dict[str, str] | None,
        commit: str,
        action: str = "deploy",
        until: commands.Until = None,
    ) -> tuple[str, progress.Progress]:
        """Start an execution the way CI does, and follow it (to ``until``'s approval)."""

        from stackrelay_cli import ci_input

        self.pipeline += 1
        from stackrelay import clock

        # The engine's clock: the commit is made as its pipeline starts (lead time).
        command = ci_input.build(self.app, action, self.token(ref, commit), artifact, clock.iso())
        arn = commands.start_execution(self._session(), self.local.orchestrator, command)
        self.say(
            f"{action} {ref} @ {commit[:8]} (pipeline {self.pipeline}): {arn.rsplit(':', 1)[-1]}"
        )
        return arn, self.follow(arn, f"{action} {ref}", until)

    def follow(self, arn: str, title: str, until: commands.Until = None) -> progress.Progress:
        # The engine runs in this process: wait for its executions to move, not for a
        # polling interval.
        waiter = getattr(self.local.engine, "progress_waiter", None)
        result = commands.follow(
            self._session(),
            arn,
            until=until,
            quiet=self.quiet,
            wait=waiter() if waiter is not None else None,
        )
        if not self.quiet and result.done:
            render.console.print(render.stage_table(result, title=f"{title}: {result.status}"))
        if result.status not in ("RUNNING", "SUCCEEDED"):
            raise CliError(f"{title} {result.status}: {result.error}: {result.cause}", EXIT_FAILED)
        if result.done:
            self.finished.extend(
                {
                    "stage": s.stage,
                    "target": s.target or s.stage,
                    "region": s.region,
                    "stack": s.stack,
                    "account": s.account,
                    "outcome": s.outcome,
                    "url": s.url or "",
                }
                for s in result.stages
                if s.state == "succeeded"
            )
        return result

    def approve(self, stage: str | None = None, ref: str = "main", commit: str = "0" * 12) -> None:
        """Show the change summary, then approve it, as the approve job does (``stage``:
        the waiting stage or target; default: the one that waits)."""
        session = self._session()
        function = self.local.orchestrator.approval_function
        base = {
            "app": self.app,
            **({"stage": stage} if stage else {}),
            "id_token": self.token(ref, commit, environment="production"),
        }
        # The state is entered a moment before its task stores the approval: wait for it,
        # as the approve-prod job does (--wait).
        shown = commands.wait_for_approval(session, function, base, wait=60, poll=0.1)
        stage = stage or shown["stage"]
        self.say(f"{stage} change set waits for approval:")
        if not self.quiet:
            render.console.print(shown["summary_text"])
        commands.invoke(
            session,
            function,
            {
                "action": "approve",
                **base,
                "execution": shown["execution"],
                "digest": shown["digest"],
                "reason": "local release",
            },
        )
        self.say(f"approved {stage} as {os.environ.get('USER') or 'you'}")

    def metrics(self) -> dict[str, Any]:
        """Delivery metrics of this app, as `stackrelay metrics` reads them."""
        from stackrelay import clock

        function = self.local.orchestrator.operations_function
        request = {"action": "metrics", "app": self.app, "since": clock.now() - 86400}
        return dict(commands.invoke(self._session(), function, request))


def _finish(
    release: Release, started: float, as_json: bool, gitlab: dict[str, Any] | None = None
) -> int:
    from stackrelay_cli.operations import metrics_table

    rows = release.finished
    delivery = release.metrics() if release.local.orchestrator.operations_function else None
    if as_json:
        render.emit_json(
            {
                "app": release.app,
                "stages": rows,
                "metrics": delivery,
                **({"gitlab": gitlab} if gitlab else {}),
            }
        )
    else:
        if gitlab:
            render.console.print(
                f"GitLab ({gitlab['url']}): {gitlab['delivered']} of {gitlab['events']} "
                "StackRelay events reported by the orchestrator's reporter"
                + (f", {gitlab['failed']} not delivered" if gitlab["failed"] else "")
            )
        render.console.print(
            render.records_table(
                rows,
                ["target", "account", "region", "stack", "outcome", "url"],
                title=f"{release.app}: what is deployed where",
            )
        )
        if delivery is not None:
            render.console.print(metrics_table(delivery))
        render.console.print(
            f"[dim]{time.time() - started:.1f} s of wall time on the local engine[/]"
        )
    return EXIT_OK


def _stage_names(topology: Any) -> tuple[str, ...]:
    return STAGES if topology is None else tuple(s.name for s in topology.stages)


def parse_parameters(
    items: list[str] | None, names: tuple[str, ...] = STAGES
) -> dict[str, dict[str, str]]:
    """``--parameter KEY=VALUE`` (every stage) or ``STAGE:KEY=VALUE``, as StageParameters."""
    stages: dict[str, dict[str, str]] = {name: {} for name in names}
    for item in items or []:
        name, sep, value = item.partition("=")
        stage, colon, key = name.rpartition(":")
        if not sep or not key or (colon and stage not in names):
            raise CliError(
                f"--parameter {item!r}: write KEY=VALUE (every stage) or STAGE:KEY=VALUE "
                f"with STAGE one of {', '.join(names)}.",
                EXIT_INVALID,
            )
        for target in [stage] if colon else names:
            stages[target][key] = value
    return {stage: values for stage, values in stages.items() if values}


def missing_parameters(
    template: dict[str, Any], given: dict[str, dict[str, str]], names: tuple[str, ...] = STAGES
) -> None:
    """Template parameters without a Default need a value in every stage."""
    declared = template.get("Parameters") or {}
    missing = sorted(
        name
        for name, spec in declared.items()
        if name != "Stage"
        and "Default" not in (spec or {})
        and any(name not in given.get(stage, {}) for stage in names)
    )
    if missing:
        flags = " ".join(f"--parameter {name}=VALUE" for name in missing)
        example = json.dumps({names[-1]: {name: "VALUE" for name in missing}})
        raise CliError(
            f"The app's template has parameter(s) without a Default: {', '.join(missing)}. "
            f"Give them values: {flags} (or STAGE:NAME=VALUE for one stage). On AWS they come "
            f"from the orchestrator's StageParameters, e.g. {example}.",
            EXIT_INVALID,
        )


def release(
    app_dir: Path,
    name: str | None,
    stack_seconds: float,
    as_json: bool,
    gitlab: GitLabTarget | None = None,
    parameters: dict[str, dict[str, str]] | None = None,
    use_container: bool = False,
    topology: Any = None,
) -> int:
    """Release any SAM app folder through the topology (default: review, staging, prod
    approved), then tear the review stack down."""
    from stackrelay.naming import MAX_APP_LENGTH, slug

    from stackrelay_cli import build

    require_engine()  # before a SAM build: without the engine there is nothing to release to
    started = time.time()
    try:
        template = build.load(build.find_template(app_dir))
    except build.BuildError as exc:
        raise CliError(str(exc), exc.code) from None
    given = parameters or {}
    missing_parameters(template, given, _stage_names(topology))
    # An app name the input model accepts: a letter first, no review-stage segment.
    words = [
        "rv" if naming.collides_with_review_stacks(w) else w
        for w in slug(name or app_dir.resolve().name).split("-")
    ]
    # At most naming.MAX_APP_LENGTH: the target accounts scope each app to sr-<app>-.
    app = "-".join(w for w in words if w)[:MAX_APP_LENGTH].rstrip("-") or "app"
    if not app[0].isalpha():
        app = f"app-{app}"[:MAX_APP_LENGTH].rstrip("-")
    orchestrator_parameters = {}
    url_output = _url_output(template)
    if url_output:
        orchestrator_parameters["ReviewUrlOutput"] = url_output
    if given:
        orchestrator_parameters["StageParameters"] = json.dumps(given)
    # Build first: a missing runtime or SAM CLI fails before the engine starts. The
    # temporary build folder goes when the release ends.
    with contextlib.ExitStack() as cleanup:
        try:
            prebuilt = cleanup.enter_context(build.built(app_dir, use_container=use_container))
        except build.BuildError as exc:
            raise CliError(str(exc), exc.code) from None
        with _engine(stack_seconds, topology) as engine:
            if gitlab is not None:
                orchestrator_parameters.update(gitlab.parameters(engine))
            local = bootstrap(engine, parameters=orchestrator_parameters, say=lambda t: None)
            r = Release(local=local, app_dir=app_dir, app=app, quiet=as_json, prebuilt=prebuilt)
            run_story(r)
            return _finish(r, started, as_json, gitlab.summary(engine) if gitlab else None)


def _url_output(template: dict[str, Any]) -> str | None:
    """The app's output that holds its URL (sam init names it e.g. HelloWorldApi)."""
    outputs = template.get("Outputs") or {}
    for key, output in outputs.items():
        value = json.dumps(output.get("Value"))
        if "execute-api" in value or "https://" in value or key.endswith("Url"):
            return str(key)
    return None


def demo(stack_seconds: float, as_json: bool, gitlab: GitLabTarget | None = None) -> int:
    started = time.time()
    with _engine(stack_seconds) as engine:
        say = (
            (lambda t: None)
            if as_json
            else (lambda t: render.console.print(f"[dim]    setup: {t}[/]"))
        )
        if not as_json:
            render.console.print(
                "[bold]StackRelay demo[/]: AWS in this process (an orchestrator "
                f"account and {', '.join(engine.config.accounts)}), simulated time."
            )
        parameters = gitlab.parameters(engine) if gitlab is not None else None
        local = bootstrap(engine, parameters=parameters, say=say)
        r = Release(
            local=local, app_dir=ROOT / "examples" / "aws-news", app="aws-news", quiet=as_json
        )
        run_story(r)
        return _finish(r, started, as_json, gitlab.summary(engine) if gitlab else None)


def run_story(r: Release) -> None:
    """feature branch -> review stack -> merge -> staging -> prod (approved) -> teardown."""
    r.say(f"register {r.app} to GitLab project {r.project} (an administrator, once)")
    r.register()
    artifact = r.publish()
    r.start("feature/login", artifact, "1f2e3d4c5b6a")
    r.say("merge feature/login into main")
    approved: set[str] = set()

    def waits(current: progress.Progress) -> bool:
        return any(s.step == WAITING and s.target not in approved for s in current.stages)

    arn, result = r.start("main", artifact, "2a3b4c5d6e7f", until=waits)
    while not result.done:
        # Each approval stage's regions wait one approval each (its own change set).
        for target in [s.target for s in result.stages if s.step == WAITING]:
            if target not in approved:
                r.approve(target, "main", "2a3b4c5d6e7f")
                approved.add(target)
        result = r.follow(arn, "release main", until=waits)
    if r.local.orchestrator.teardown_state_machine_arn:
        r.say("feature/login is merged: tear its review stack down")
        r.start("feature/login", None, "1f2e3d4c5b6a", action="teardown")
