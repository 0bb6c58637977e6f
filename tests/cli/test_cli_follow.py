"""Following an execution: only new history events per look, and how the CLI waits.

The fake Step Functions serves pages with the local engine's own pager
(``seams.history_page``, AWS's paging rules), over a history that grows between
looks, so the cursor is checked against the paging it meets on the engine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stackrelay_cli import commands, progress
from stackrelay_local import seams

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ARN = "arn:aws:states:us-east-1:123456789012:execution:stackrelay-deploy:run-1"


def _recorded(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    data = json.loads((FIXTURES / f"history_{name}.json").read_text())
    return data["execution"], data["events"]


class GrowingSfn:
    """An execution whose history grows by ``step`` events per DescribeExecution."""

    def __init__(self, execution: dict[str, Any], events: list[dict[str, Any]], step: int) -> None:
        self.final, self.all, self.step = execution, events, step
        self.visible = 0
        self.pages: list[dict[str, Any]] = []
        self.served = 0

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        self.visible = min(len(self.all), self.visible + self.step)
        if self.visible < len(self.all):
            return {"executionArn": executionArn, "status": "RUNNING"}
        return self.final

    def get_execution_history(self, **kwargs: Any) -> dict[str, Any]:
        self.pages.append(kwargs)
        page = seams.history_page(
            kwargs["executionArn"],
            self.all[: self.visible],
            kwargs.get("maxResults", 0),
            kwargs.get("reverseOrder", False),
            kwargs.get("nextToken"),
        )
        self.served += len(page["events"])
        return page


@pytest.mark.parametrize("step", [1, 7, 150, 10_000])
def test_follower_reads_each_event_once_and_ends_like_a_full_read(step: int) -> None:
    execution, events = _recorded("main")
    sfn = GrowingSfn(execution, events, step)
    follower = progress.Follower(sfn, ARN)

    result = follower.poll()
    while not result.done:
        result = follower.poll()

    assert [e["id"] for e in follower.cursor.events] == sorted(e["id"] for e in events)
    assert result == progress.read(execution, events)
    # Each event crosses the wire about once: a look re-reads at most its first page.
    looks = sum(1 for p in sfn.pages if "nextToken" not in p)
    assert sfn.served <= len(events) + looks * progress.HISTORY_FIRST_PAGE
    assert all(p["reverseOrder"] for p in sfn.pages)


def test_follower_long_burst_pages_back_to_the_last_seen_event() -> None:
    execution, events = _recorded("main")
    assert len(events) > progress.HISTORY_FIRST_PAGE
    sfn = GrowingSfn(execution, events, len(events))

    follower = progress.Follower(sfn, ARN)
    follower.poll()

    assert len(sfn.pages) == 2 and sfn.pages[1].get("nextToken")
    assert sfn.served == len(events)
    assert len(follower.cursor.events) == len(events)


def test_follower_quiet_look_reports_no_change() -> None:
    execution, events = _recorded("parked")
    sfn = GrowingSfn(execution, events, len(events))
    follower = progress.Follower(sfn, ARN)
    follower.poll()
    assert follower.changed

    follower.poll()

    assert not follower.changed


def test_follower_without_history_access_follows_the_status() -> None:
    """CI roles may not read the history (it holds the task token): status only."""
    from botocore.exceptions import ClientError

    execution, events = _recorded("review")

    class NoHistory(GrowingSfn):
        def get_execution_history(self, **kwargs: Any) -> dict[str, Any]:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}},
                "GetExecutionHistory",
            )

    follower = progress.Follower(NoHistory(execution, events, 100), ARN)
    first = follower.poll()
    assert first.status == "RUNNING" and follower.history_denied
    result = follower.poll()
    while not result.done:
        result = follower.poll()

    assert result.status == "SUCCEEDED" and follower.changed
    assert result.output == json.loads(execution["output"])


def test_history_page_forward_pages_cover_history_in_order() -> None:
    _, events = _recorded("main")
    ids: list[int] = []
    token = None
    while True:
        page = seams.history_page(ARN, events, 40, False, token)
        ids += [e["id"] for e in page["events"]]
        token = page.get("nextToken")
        if not token:
            break

    assert ids == sorted(e["id"] for e in events)


def test_history_page_default_size_is_aws_default() -> None:
    _, events = _recorded("main")

    page = seams.history_page(ARN, events, 0, False, None)

    assert len(page["events"]) == seams.HISTORY_DEFAULT_PAGE
    assert len(seams.history_page(ARN, events, 5000, False, None)["events"]) <= 1000


@pytest.mark.parametrize("token", ["garbage", "eyJ4IjoxfQ=="])
def test_history_page_bad_token_is_invalid_token(token: str) -> None:
    _, events = _recorded("main")

    with pytest.raises(Exception) as raised:
        seams.history_page(ARN, events, 10, False, token)

    assert type(raised.value).__name__ == "InvalidToken"


def test_history_page_token_of_other_order_is_refused() -> None:
    _, events = _recorded("main")
    token = seams.history_page(ARN, events, 10, True, None)["nextToken"]

    with pytest.raises(Exception) as raised:
        seams.history_page(ARN, events, 10, False, token)

    assert type(raised.value).__name__ == "InvalidToken"


def test_backoff_grows_while_quiet_and_resets_on_change() -> None:
    slept: list[float] = []
    wait = commands.Backoff(first=2, most=15, sleep=slept.append)

    for changed in (True, False, False, False, False, False, False, True, False):
        wait(changed)

    assert slept[0] == 2 and slept[-2] == 2
    assert slept[1:7] == sorted(slept[1:7]) and max(slept) == 15
    assert slept[-1] == 3


def test_follow_uses_the_given_wait_not_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    execution, events = _recorded("review")
    sfn = GrowingSfn(execution, events, 20)
    waits: list[bool] = []

    class Session:
        def client(self, name: str) -> Any:
            assert name == "stepfunctions"
            return sfn

    def no_sleep(seconds: float) -> None:
        raise AssertionError("follow slept instead of using its wait")

    monkeypatch.setattr(commands.time, "sleep", no_sleep)
    result = commands.follow(Session(), ARN, quiet=True, wait=waits.append)  # type: ignore[arg-type]

    assert result.status == "SUCCEEDED"
    assert len(waits) == -(-len(events) // 20) - 1
