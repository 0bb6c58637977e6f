"""Fixtures for the CI tests (the helpers live in ci_harness)."""

from ci_harness import engine_server, gitlab_ci_local, install, project, rsync

__all__ = ["engine_server", "gitlab_ci_local", "install", "project", "rsync"]
