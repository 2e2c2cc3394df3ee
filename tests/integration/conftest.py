"""Integration tier: the Lambda handlers in-process against moto (`tests/support/harness.py`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.harness import Stack, running_stack
from tests.support.sleeps import SleepRecorder


@pytest.fixture
def stack(tmp_path) -> Stack:
    """A fresh emulated AWS with the template's resources; functions imported on first use."""
    with running_stack(catalog_dir=tmp_path) as fresh:
        yield fresh


@pytest.fixture
def t0() -> int:
    """A store event time an hour ago; tests add seconds to it to order events."""
    return int(time.time()) - 3600


def pytest_collection_modifyitems(config, items):
    # Powertools warns when a handler invocation flushed no metric (a 413, an all-failed batch): expected here.
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"))


@pytest.fixture
def sleeps() -> SleepRecorder:
    """The store API clients' `sleep`, recorded: retries without waiting."""
    return SleepRecorder()
