"""A GitLab on localhost that answers the documented API paths the reporter uses.

Built on pytest-httpserver (a real HTTP server on 127.0.0.1). It keeps the
state GitLab keeps and enforces GitLab's rules where the reporter depends on
them, so a test can fail the way GitLab would fail it:

- commit statuses follow GitLab's transitions (Ci::CreateCommitStatusService: a
  running/pending status of the same name in the pipeline is updated, a finished one
  is never reopened, a new one is created instead; an invalid transition is a 400);
- the pipeline must exist for ``pipeline_id`` + sha (404 otherwise);
- descriptions and target URLs over 255 characters are refused (400);
- every request needs the PRIVATE-TOKEN (401 otherwise).

``requests`` records every call (method, path, JSON body) in order. ``fail(...)``
makes the next requests answer 500, or hang past the client's timeout.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

API = "/api/v4"
GITLAB_TOKEN = "glpat-test-Secret-Token-123"  # a fake; tests check it is never logged


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any]
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeGitLab:
    token: str = GITLAB_TOKEN
    project_id: int = 42
    project_path: str = "group/aws-news"
    pipelines: dict[int, str] = field(default_factory=dict)  # pipeline id -> sha
    merge_requests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # sha -> MRs
    calls: list[Call] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    deployments: dict[int, dict[str, Any]] = field(default_factory=dict)
    environments: dict[int, dict[str, Any]] = field(default_factory=dict)
    notes: list[dict[str, Any]] = field(default_factory=list)
    _failures: list[tuple[str, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    server: HTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> FakeGitLab:
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.server.expect_request(re.compile(r"^/.*")).respond_with_handler(self._handle)
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.clear()
            self.server.stop()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    def fail(self, kind: str = "500", times: int = 1_000_000, seconds: float = 1.0) -> None:
        """The next ``times`` requests answer 500, or (``timeout``) hang for ``seconds``."""
        with self._lock:
            self._failures = [(kind, seconds)] * times

    def reset(self) -> None:
        """Forget every call and object (the server keeps running)."""
        with self._lock:
            self._failures = []
            self.calls.clear()
            self.statuses.clear()
            self.deployments.clear()
            self.environments.clear()
            self.notes.clear()
            self.pipelines.clear()
            self.merge_requests.clear()

    def heal(self) -> None:
        with self._lock:
            self._failures = []

    # -- what tests read ------------------------------------------------------------
    def status_states(self, name: str) -> list[str]:
        """Every state posted for a status name, in order (accepted posts only)."""
        return [s["state"] for s in self.status_log if s["name"] == name]

    @property
    def status_log(self) -> list[dict[str, Any]]:
        return [
            {**c.body, "path": c.path}
            for c in self.calls
            if c.method == "POST" and "/statuses/" in c.path and c.body.get("_accepted")
        ]

    def paths(self) -> list[str]:
        return [f"{c.method} {c.path}" for c in self.calls]

    # -- the API ----------------------------------------------------------------------
    def _handle(self, request: Request) -> Response:
        body: dict[str, Any] = {}
        if request.data:
            try:
                body = json.loads(request.data)
            except ValueError:
                body = dict(request.form)
        elif request.form:
            body = dict(request.form)
        call = Call(
            request.method,
            request.path,
            body,
            dict(request.args),
            {k.lower(): v for k, v in request.headers.items()},
        )
        with self._lock:
            self.calls.append(call)
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            kind, seconds = failure
            if kind == "timeout":
                time.sleep(seconds)
            return _json({"message": "500 Internal Server Error"}, 500)
        if request.headers.get("PRIVATE-TOKEN") != self.token:
            return _json({"message": "401 Unauthorized"}, 401)
        project = rf"{API}/projects/(?:{self.project_id}|{re.escape(self.project_path)})"
        routes = [
            ("POST", rf"{project}/statuses/(?P<sha>[0-9a-f]+)$", self._status),
            ("GET", rf"{project}/repository/commits/(?P<sha>[0-9a-f]+)/merge_requests$", self._mrs),
            ("POST", rf"{project}/merge_requests/(?P<iid>\d+)/notes$", self._mr_note),
            ("POST", rf"{project}/repository/commits/(?P<sha>[0-9a-f]+)/comments$", self._comment),
            ("POST", rf"{project}/deployments$", self._create_deployment),
            ("PUT", rf"{project}/deployments/(?P<id>\d+)$", self._update_deployment),
            ("PUT", rf"{project}/environments/(?P<id>\d+)$", self._update_environment),
        ]
        for method, pattern, handler in routes:
            match = re.match(pattern, request.path)
            if match and request.method == method:
                with self._lock:
                    return handler(call, **match.groupdict())
        return _json({"message": "404 Not Found"}, 404)

    def _status(self, call: Call, sha: str) -> Response:
        body = call.body
        state, name = body.get("state"), body.get("name") or "default"
        for key in ("description", "target_url"):
            if len(str(body.get(key) or "")) > 255:
                return _json({"message": {key: ["is too long (maximum is 255 characters)"]}}, 400)
        pipeline = body.get("pipeline_id")
        if pipeline is not None and self.pipelines.get(int(pipeline)) != sha:
            return _json({"message": "404 Pipeline for pipeline_id, sha and ref Not Found"}, 404)
        open_ = [
            s
            for s in self.statuses
            if s["sha"] == sha
            and s["name"] == name
            and s["pipeline_id"] == pipeline
            and s["status"] in ("created", "pending", "running")
        ]
        status = (
            open_[-1]
            if open_
            else {
                "id": len(self.statuses) + 1,
                "sha": sha,
                "name": name,
                "pipeline_id": pipeline,
                "status": "created",
            }
        )
        allowed = {
            "pending": {"created"},
            "running": {"created", "pending"},
            "success": {"created", "pending", "running"},
            "failed": {"created", "pending", "running"},
            "canceled": {"created", "pending", "running"},
        }
        if state not in allowed:
            return _json({"message": "state does not have a valid value"}, 400)
        if status["status"] not in allowed[state]:
            return _json(
                {"message": f"Cannot transition status via :{state} from :{status['status']}"}, 400
            )
        if not open_:
            self.statuses.append(status)
        status.update(
            status=state,
            description=body.get("description"),
            target_url=body.get("target_url"),
            ref=body.get("ref"),
        )
        body["_accepted"] = True
        return _json(status, 201)

    def _mrs(self, call: Call, sha: str) -> Response:
        return _json(self.merge_requests.get(sha, []), 200)

    def _mr_note(self, call: Call, iid: str) -> Response:
        note = {"id": len(self.notes) + 1, "on": f"!{iid}", "body": call.body.get("body")}
        self.notes.append(note)
        return _json(note, 201)

    def _comment(self, call: Call, sha: str) -> Response:
        note = {"id": len(self.notes) + 1, "on": sha, "body": call.body.get("note")}
        self.notes.append(note)
        return _json({"note": note["body"]}, 201)

    def _environment(self, name: str) -> dict[str, Any]:
        for env in self.environments.values():
            if env["name"] == name:
                return env
        env = {"id": 100 + len(self.environments), "name": name, "external_url": None}
        self.environments[env["id"]] = env
        return env

    def _create_deployment(self, call: Call) -> Response:
        body = call.body
        missing = [k for k in ("environment", "sha", "ref", "tag", "status") if k not in body]
        if missing:
            return _json({"error": f"{', '.join(missing)} is missing"}, 400)
        if body["status"] not in ("running", "success", "failed", "canceled"):
            return _json({"error": "status does not have a valid value"}, 400)
        env = self._environment(body["environment"])
        deployment = {
            "id": 1000 + len(self.deployments),
            "iid": len(self.deployments) + 1,
            "sha": body["sha"],
            "ref": body["ref"],
            "status": body["status"],
            "environment": dict(env),
        }
        self.deployments[deployment["id"]] = deployment
        return _json(deployment, 201)

    def _update_deployment(self, call: Call, id: str) -> Response:
        deployment = self.deployments.get(int(id))
        if deployment is None:
            return _json({"message": "404 Not found"}, 404)
        if deployment["status"] != "running":
            return _json({"message": f"Cannot update a {deployment['status']} deployment"}, 400)
        deployment["status"] = call.body.get("status")
        return _json(deployment, 200)

    def _update_environment(self, call: Call, id: str) -> Response:
        env = self.environments.get(int(id))
        if env is None:
            return _json({"message": "404 Environment Not Found"}, 404)
        url = call.body.get("external_url")
        if url is not None and len(url) > 255:
            return _json({"message": {"external_url": ["is too long"]}}, 400)
        env["external_url"] = url
        return _json(env, 200)


def _json(data: Any, status: int) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")
