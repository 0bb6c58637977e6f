"""pytest fixtures for the local engine.

Load with ``pytest_plugins = ["stackrelay_local.pytest_plugin"]`` in the root
conftest, or import the fixtures into a conftest.

- ``engine_config``: the EngineConfig (override it to change accounts/durations)
- ``local_engine``: a started LocalEngine, stopped (and drained) after the test
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stackrelay_local.config import EngineConfig
from stackrelay_local.engine import LocalEngine


@pytest.fixture
def engine_config() -> EngineConfig:
    return EngineConfig()


@pytest.fixture
def local_engine(engine_config: EngineConfig) -> Iterator[LocalEngine]:
    with LocalEngine(engine_config) as engine:
        yield engine
