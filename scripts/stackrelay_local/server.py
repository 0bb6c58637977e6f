"""The local engine as a server on ``http://localhost:PORT``.

moto's own WSGI app serves the AWS APIs, so the CLI, the AWS CLI, ``sam
deploy`` and CI jobs reach it through ``AWS_ENDPOINT_URL`` exactly as they
reach AWS. A small control surface under ``/_stackrelay/`` (clock, faults,
deploy-app, ...) sits in front of it for tests and ``stackrelay local``;
:class:`stackrelay_local.remote.RemoteEngine` is its Python client.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from stackrelay_local import seams
from stackrelay_local.config import EngineConfig
from stackrelay_local.engine import DeployError, Faults, _EngineOps
from stackrelay_local.faults import Fault
from stackrelay_local.runtime import Runtime

CONTROL_PREFIX = "/_stackrelay/"
StartResponse = Callable[..., Any]


class ServerEngine(_EngineOps):
    """The engine operations the control surface exposes, inside the server."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.faults = Faults(runtime.faults, runtime.config)

    def handle(self, method: str, route: str, body: dict[str, Any], query: dict[str, str]) -> Any:
        """One control request; returns a JSON-able result."""
        if (method, route) == ("GET", "clock"):
            return {"now": self.clock.now()}
        if (method, route) == ("POST", "clock/advance"):
            if "to" in body:
                return {"now": self.clock.advance_to(float(body["to"]))}
            return {"now": self.clock.advance(float(body.get("seconds", 0)))}
        if (method, route) == ("GET", "faults"):
            return {"faults": [f.to_dict() for f in self.faults.list()]}
        if (method, route) == ("POST", "faults"):
            return {"fault": self.faults.add(Fault.from_dict(body)).to_dict()}
        if (method, route) == ("DELETE", "faults"):
            self.faults.clear()
            return {"faults": []}
        if (method, route) == ("POST", "deploy-app"):
            outputs = self.deploy_app(
                Path(body["template"]),
                stack_name=body["stack_name"],
                parameters=body.get("parameters") or {},
                account=body.get("account") or "orchestrator",
                region=body.get("region"),
            )
            return {"outputs": outputs}
        if (method, route) == ("POST", "stack-seconds"):
            self.set_stack_seconds(float(body["seconds"]), body.get("stack"))
            return {}
        if (method, route) == ("POST", "wait-stack"):
            return {
                "status": self.wait_stack(
                    body["stack_name"], body.get("account") or "orchestrator", body.get("region")
                )
            }
        if (method, route) == ("GET", "issuer"):
            return {"url": self.issuer_url}
        if (method, route) == ("POST", "token"):
            return {"token": self.mint_token(**body)}
        if (method, route) == ("GET", "config"):
            return self.config.to_dict()
        if (method, route) == ("GET", "events/deliveries"):
            found = self.runtime.events.deliveries(
                source=query.get("source"),
                detail_type=query.get("detail_type"),
                target=query.get("target"),
                outcome=query.get("outcome"),
            )
            return {"deliveries": [d.to_dict() for d in found]}
        if (method, route) == ("GET", "events/emitted"):
            return {"events": self.runtime.events.emitted(query.get("source"))}
        if (method, route) == ("POST", "events/wait-idle"):
            return {"idle": self.runtime.events.wait_idle(float(body.get("timeout", 30)))}
        if (method, route) == ("GET", "parked"):
            return {
                "tokens": self.runtime.parked.tokens(
                    query.get("execution_arn", ""), query.get("state") or None
                )
            }
        raise KeyError(f"{method} {CONTROL_PREFIX}{route}")


class ControlMiddleware:
    """WSGI: ``/_stackrelay/*`` to the engine, everything else to moto."""

    def __init__(self, engine: ServerEngine, moto_app: Callable[..., Iterable[bytes]]) -> None:
        self.engine = engine
        self.moto_app = moto_app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if not path.startswith(CONTROL_PREFIX):
            return self.moto_app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        from urllib.parse import parse_qsl

        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        try:
            body = json.loads(raw) if raw else {}
            result = self.engine.handle(method, path[len(CONTROL_PREFIX) :], body, query)
            status, payload = "200 OK", result
        except KeyError as exc:
            status, payload = "404 Not Found", {"error": "NotFound", "message": str(exc)}
        except (DeployError, ValueError) as exc:
            status, payload = "400 Bad Request", {"error": type(exc).__name__, "message": str(exc)}
        except Exception as exc:
            status, payload = (
                "500 Internal Server Error",
                {
                    "error": type(exc).__name__,
                    "message": str(exc),
                },
            )
        data = json.dumps(payload).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]


def serve(
    config: EngineConfig | None = None,
    port: int = 4566,
    host: str = "localhost",
    ready: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the engine as a server until Ctrl-C / SIGTERM (or ``stop`` is set).

    Prints one line when ready. ``MOTO_PORT`` is set because moto's ASL
    interpreter calls Lambda and the other services on ``localhost:$MOTO_PORT``.
    """
    from werkzeug.serving import make_server

    config = config or EngineConfig()
    endpoint = f"http://localhost:{port}"
    os.environ["MOTO_PORT"] = str(port)
    runtime = Runtime(config, endpoint_url=endpoint)
    engine = ServerEngine(runtime)
    moto_app = seams.resolve("server_app")(seams.resolve("server_backend_app"))
    app = ControlMiddleware(engine, moto_app)
    with seams.server_config():
        runtime.install()
        server = make_server(
            host, port, app, threaded=True, request_handler=seams.resolve("server_handler")
        )
        if stop is not None:

            def _stop_when_asked() -> None:
                stop.wait()
                server.shutdown()

            threading.Thread(target=_stop_when_asked, daemon=True).start()
        previous = _install_sigterm()
        accounts = ", ".join(
            f"{name} {account}"
            for name, account in [
                ("orchestrator", config.orchestrator_account),
                *config.accounts.items(),
            ]
        )
        line = f"StackRelay local engine on {endpoint} (accounts: {accounts}; Ctrl-C to stop)"
        print(line, flush=True)
        if ready is not None:
            ready(endpoint)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            _drain(runtime)
            runtime.uninstall()
            server.server_close()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            print("StackRelay local engine stopped", flush=True)


def _install_sigterm() -> Any:
    """SIGTERM stops the server like Ctrl-C (CI jobs and test teardown send it)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, _stop)


def _drain(runtime: Runtime) -> None:
    for execution_arn, tokens in runtime.parked.all().items():
        account = execution_arn.split(":")[4]
        sfn = runtime.client("stepfunctions", account)
        for token in tokens:
            try:
                sfn.send_task_failure(
                    taskToken=token,
                    error="StackRelayLocal.Teardown",
                    cause="The local engine stopped while this task waited for a callback.",
                )
            except Exception as exc:  # answered or timed out meanwhile
                print(f"drain: {exc}", file=sys.stderr)
