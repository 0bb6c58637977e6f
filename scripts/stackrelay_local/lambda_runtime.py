"""Run real Lambda handler code in-process, the way the Lambda service would.

moto starts every function (boto3 ``invoke`` and all Step Functions Lambda
paths) through one method; :mod:`stackrelay_local.seams` routes it here. We
import the function's handler from its code folder, run it with the function's
environment and a Lambda-shaped context, and turn exceptions into Lambda's
error payload (``errorType`` = exception class name) so the ASL's Retry/Catch
match exactly as on AWS.

Handlers share one process, so each invocation holds a global re-entrant lock
while it swaps ``os.environ`` and ``sys.path`` (a handler may invoke another
function synchronously, hence re-entrant). ``sys.stdout`` is never replaced.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import json
import logging
import os
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackrelay_local import seams
from stackrelay_local.faults import LAMBDA_CRASH, LAMBDA_TIMEOUT

if TYPE_CHECKING:
    from stackrelay_local.runtime import Runtime

INVOKE_LOCK = threading.RLock()
_OUTPUT = threading.local()


class InvocationOutput(io.TextIOBase):
    """``sys.stdout`` while an engine runs: a handler's writes (log lines, EMF
    metrics) go to its invocation's log, shipped to CloudWatch Logs as on AWS;
    every other thread writes straight through. Routing is per thread, so no
    other thread's output is ever captured (why the notes warn against a plain
    swap of sys.stdout)."""

    def __init__(self, wrapped: Any) -> None:
        super().__init__()
        self.wrapped = wrapped

    def write(self, text: str) -> int:
        buffer = getattr(_OUTPUT, "buffer", None)
        if buffer is None:
            return int(self.wrapped.write(text) or 0)
        buffer.append(text)
        return len(text)

    def flush(self) -> None:
        self.wrapped.flush()

    def isatty(self) -> bool:
        return bool(self.wrapped.isatty())

    def fileno(self) -> int:
        return int(self.wrapped.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.wrapped, "encoding", "utf-8"))


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that code reads."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float
    clock: Callable[[], float]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.clock()) * 1000))


class LambdaRunner:
    """Imports and runs handlers; one per engine (its cold starts are per engine)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._warm: dict[tuple[str, str], Callable[..., Any]] = {}
        self._added_env: set[str] = set()
        self._code_dirs: dict[tuple[str, str], Path] = {}
        self._extract_root = Path(tempfile.mkdtemp(prefix="stackrelay-local-code-"))

    # -- code location -----------------------------------------------------
    def register_code(self, bucket: str, key: str, folder: Path) -> None:
        """Map an uploaded artifact to the local folder it was built from."""
        self._code_dirs[(bucket, key)] = folder.resolve()

    def code_dir(self, fn: Any) -> Path:
        """The folder to import ``fn``'s handler from.

        A function whose S3 code we uploaded from a local folder runs from that
        folder (real files, real tracebacks); any other zip is extracted once
        per content hash.
        """
        code = fn.code or {}
        local = self._code_dirs.get((str(code.get("S3Bucket")), str(code.get("S3Key"))))
        if local is not None:
            return local
        blob: bytes = getattr(fn, "code_bytes", b"") or b""
        if not blob:
            raise RuntimeError(
                f"function {fn.function_name} has no code the local engine can run "
                "(upload a zip or deploy it with LocalEngine.deploy_app)"
            )
        digest = hashlib.sha256(blob).hexdigest()[:16]
        target = self._extract_root / digest
        if not target.exists():
            tmp = self._extract_root / f"{digest}.{uuid.uuid4().hex}"
            with zipfile.ZipFile(io.BytesIO(blob)) as archive:
                archive.extractall(tmp)
            tmp.rename(target)
        return target

    # -- invocation --------------------------------------------------------
    def install_output(self) -> None:
        """Route handler output (again, if someone replaced sys.stdout since)."""
        if not isinstance(sys.stdout, InvocationOutput):
            sys.stdout = InvocationOutput(sys.stdout)
        # Loggers made before the engine ran (Powertools keeps a logger's first
        # handler across cold starts) still write to the old stdout: re-point them.
        stderr = (sys.stderr, sys.__stderr__)
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
            for handler in getattr(logger, "handlers", []):
                stream = getattr(handler, "stream", None)
                if (
                    type(handler) is logging.StreamHandler
                    and stream not in stderr
                    and not (isinstance(stream, InvocationOutput))
                ):
                    handler.setStream(sys.stdout)

    def uninstall_output(self) -> None:
        if isinstance(sys.stdout, InvocationOutput):
            sys.stdout = sys.stdout.wrapped

    def invoke(self, fn: Any, event: Any) -> tuple[str, bool, str]:
        """moto's ``_invoke_lambda`` contract: (payload_json, errored, logs)."""
        self.install_output()
        outer = getattr(_OUTPUT, "buffer", None)
        _OUTPUT.buffer = []
        try:
            payload, errored = self._invoke(fn, event)
        finally:
            logs = "".join(_OUTPUT.buffer)
            _OUTPUT.buffer = outer
        self._ship_logs(fn, logs)
        return payload, errored, logs

    def _ship_logs(self, fn: Any, logs: str) -> None:
        if not logs:
            return
        if self._runtime.config.echo_lambda_logs:
            (sys.__stdout__ or sys.stderr).write(logs)
        backend = seams.resolve("logs_backends")[fn.account_id][fn.region]
        group = f"/aws/lambda/{fn.function_name}"
        stream = time.strftime("%Y/%m/%d/[$LATEST]") + "local"
        backend.ensure_log_group(group)
        with contextlib.suppress(Exception):  # the stream exists after the first call
            backend.create_log_stream(group, stream)
        now = int(time.time() * 1000)  # CloudWatch refuses events far from real time
        events = [{"timestamp": now, "message": line} for line in logs.splitlines() if line]
        backend.put_log_events(group, stream, events)

    def _invoke(self, fn: Any, event: Any) -> tuple[str, bool]:
        fault = self._runtime.faults.take(
            LAMBDA_CRASH, function=fn.function_name, account=fn.account_id
        ) or self._runtime.faults.take(
            LAMBDA_TIMEOUT, function=fn.function_name, account=fn.account_id
        )
        if fault is not None and fault.kind == LAMBDA_TIMEOUT:
            # As on AWS, the function ran (its side effects happened) and then its
            # time ran out: the caller gets the timeout, never the result.
            with contextlib.suppress(Exception):
                self._run(fn, _decode_event(event))
            timeout = int(fn.timeout or 3)
            self._runtime.clock.advance_to(self._runtime.clock.now() + timeout)
            message = f"Task timed out after {timeout}.00 seconds"
            return _error_payload("Sandbox.Timedout", message, []), True
        if fault is not None:
            return _error_payload(fault.error_type, fault.message, []), True
        try:
            payload = _decode_event(event)
            result = self._run(fn, payload)
            return json.dumps(result), False
        except Exception as exc:  # the handler's exception is the function's error
            trace = traceback.format_exception(type(exc), exc, exc.__traceback__)
            return _error_payload(type(exc).__name__, str(exc), trace), True

    def _run(self, fn: Any, event: Any) -> Any:
        module_name, _, attr = (fn.handler or "").rpartition(".")
        if not module_name:
            raise RuntimeError(f"Bad handler {fn.handler!r} for {fn.function_name}")
        folder = self.code_dir(fn)
        context = LambdaContext(
            function_name=fn.function_name,
            function_version="$LATEST",
            invoked_function_arn=fn.function_arn,
            memory_limit_in_mb=int(fn.memory_size or 128),
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{fn.function_name}",
            log_stream_name=f"local/[$LATEST]{uuid.uuid4().hex}",
            deadline=self._runtime.clock.now() + int(fn.timeout or 3),
            clock=self._runtime.clock.now,
        )
        env = self._environment(fn)
        with INVOKE_LOCK, _swapped_environ(env, self._added_env), _on_path(folder):
            handler = self._handler(fn, folder, module_name, attr)
            return handler(event, context)

    def _handler(self, fn: Any, folder: Path, module_name: str, attr: str) -> Callable[..., Any]:
        key = (fn.function_arn, str(folder))
        cached = self._warm.get(key)
        if cached is not None:
            return cached
        # Cold start: (re)import so module-level config reads this function's env.
        _forget_foreign_modules(module_name, folder)
        if module_name in sys.modules:
            module = importlib.reload(sys.modules[module_name])
        else:
            module = importlib.import_module(module_name)
        handler = getattr(module, attr)
        self._warm[key] = handler
        return handler

    def _environment(self, fn: Any) -> dict[str, str]:
        creds = self._runtime.credentials_for(fn.account_id)
        env = {
            "AWS_REGION": fn.region,
            "AWS_DEFAULT_REGION": fn.region,
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size or 128),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.function_name}",
            "_HANDLER": fn.handler or "",
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
        }
        if self._runtime.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self._runtime.endpoint_url
        env.update({k: str(v) for k, v in (fn.environment_vars or {}).items()})
        return env

    def reset(self) -> None:
        self._warm.clear()
        for key in self._added_env:
            os.environ.pop(key, None)
        self._added_env.clear()


def _decode_event(event: Any) -> Any:
    if event is None or event == "":
        return {}
    if isinstance(event, bytes):
        event = event.decode("utf-8")
    if isinstance(event, str):
        try:
            return json.loads(event)
        except json.JSONDecodeError:
            return event
    return event


def _error_payload(error_type: str, message: str, trace: list[str]) -> str:
    return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": trace})


def _forget_foreign_modules(module_name: str, folder: Path) -> None:
    """Drop a same-named module imported from another function's folder.

    Two functions may both have ``app.py``; Python caches modules by name, so
    without this the second function would run the first one's code.
    """
    top = module_name.split(".")[0]
    cached = sys.modules.get(top)
    if cached is None:
        return
    origin = getattr(cached, "__file__", None) or ""
    paths = list(getattr(cached, "__path__", []) or [])
    locations = [origin, *paths]
    if any(str(loc).startswith(str(folder)) for loc in locations if loc):
        return
    if not origin and not paths:
        return
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]


@contextmanager
def _swapped_environ(env: dict[str, str], added: set[str]) -> Iterator[None]:
    """Set the function's variables for the invocation.

    Keys that existed before get their values back afterwards. Keys that did
    not are left in place (and noted in ``added``, removed when the engine
    stops): deleting a key while another thread (moto's interpreter, botocore)
    iterates os.environ makes that thread fail with a KeyError.
    """
    saved = {key: os.environ[key] for key in env if key in os.environ}
    added.update(key for key in env if key not in saved)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.update(saved)


@contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with suppress(ValueError):
            sys.path.remove(str(folder))
