"""StackRelay's local engine: AWS on moto, in-process or as a local server.

Public API::

    from stackrelay_local import LocalEngine, EngineConfig, Fault

    with LocalEngine(EngineConfig()) as engine:
        engine.clock.now() / engine.clock.advance(seconds)      # simulated epoch seconds
        engine.session(account="dev") -> boto3.Session          # "orchestrator", stage or id
        engine.client("cloudformation", account="dev")
        engine.deploy_app(Path("template.yaml"), stack_name="x", parameters={}, account="dev")
        engine.set_stack_seconds(3600, stack="x-*")
        engine.faults.add(Fault.resource_failed(stack="x", resource="Table", reason="..."))
        engine.wait_execution(arn) -> dict ; engine.wait_parked(arn) -> token
        engine.wait_stack(stack_name, account) -> final status (advances the clock)
        engine.events.deliveries(...) / .emitted(source) / .wait_idle()  # EventBridge
        engine.faults.add(Fault.event_lost(stack="sr-*")) / event_delayed / event_duplicated

See the modules: ``engine`` (LocalEngine), ``faults`` (Fault kinds), ``cfn``
(CloudFormation realism), ``events`` (EventBridge delivery, service events),
``lambda_runtime`` (in-process handlers), ``seams`` (every moto internal touched),
``server`` (``python -m stackrelay_local up``) and ``remote`` (RemoteEngine, the
same API over HTTP).
"""

from stackrelay_local.config import EngineConfig
from stackrelay_local.engine import DeployError, LocalEngine
from stackrelay_local.faults import Fault
from stackrelay_local.remote import RemoteEngine


def serve(config: EngineConfig | None = None, port: int = 4566) -> None:
    """Run the local engine as a server (see :mod:`stackrelay_local.server`)."""
    from stackrelay_local.server import serve as _serve

    _serve(config, port=port)


__all__ = ["DeployError", "EngineConfig", "Fault", "LocalEngine", "RemoteEngine", "serve"]
