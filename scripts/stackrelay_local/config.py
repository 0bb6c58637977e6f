"""Engine configuration."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from stackrelay.topology import DEFAULT_ACCOUNT_KEYS

DEFAULT_ACCOUNTS = dict(
    zip(DEFAULT_ACCOUNT_KEYS, ("111111111111", "222222222222", "333333333333"), strict=True)
)
"""The default topology's three target accounts, by its account keys."""
_ACCOUNT_ID = re.compile(r"^\d{12}$")


@dataclass
class EngineConfig:
    """What the local engine emulates.

    ``orchestrator_account`` defaults to moto's default account because moto's
    ASL interpreter calls Lambda there whatever credentials a task names.

    ``topology`` (the orchestrator's topology, as its JSON mapping) makes the target
    accounts and regions the topology's: ``accounts`` then names each stage's account
    by the stage's name, and :meth:`places` lists every (account, region) to bootstrap.
    Without it, the default three accounts in ``region``. ``region`` is always the
    orchestrator's.
    """

    region: str = "us-east-1"
    orchestrator_account: str = "123456789012"
    accounts: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ACCOUNTS))
    stack_seconds: float = 30.0
    change_set_seconds: float = 5.0
    echo_lambda_logs: bool = False
    """Also print what handlers write (it always goes to CloudWatch Logs)."""
    event_latency_seconds: float = 0.5
    """Simulated time from an event reaching a bus to each rule target receiving it
    (per hop: a cross-account forward adds it again). EventBridge's typical latency."""
    topology: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.topology is not None:
            from stackrelay import topology

            parsed = topology.parse(self.topology)  # refused here, with its path
            self.accounts = {stage.name: stage.account for stage in parsed.stages}

    def places(self) -> list[tuple[str, str]]:
        """Every (target account id, region) the engine's orchestrator deploys to."""
        if self.topology is None:
            return [(account, self.region) for account in dict.fromkeys(self.accounts.values())]
        from stackrelay import topology

        return list(topology.parse(self.topology).places())

    def target_accounts(self) -> list[str]:
        """Every target account id, once, in order."""
        return list(dict.fromkeys(account for account, _ in self.places()))

    def account_id(self, account: str | None) -> str:
        """Resolve "orchestrator", a stage name or a 12-digit id to an account id."""
        if account in (None, "orchestrator"):
            return self.orchestrator_account
        assert account is not None
        if account in self.accounts:
            return self.accounts[account]
        if _ACCOUNT_ID.match(account):
            return account
        known = ", ".join(["orchestrator", *self.accounts])
        raise ValueError(f"unknown account {account!r}: use one of {known} or a 12-digit id")

    def to_dict(self) -> dict[str, object]:
        return {
            "region": self.region,
            "orchestrator_account": self.orchestrator_account,
            "accounts": dict(self.accounts),
            "stack_seconds": self.stack_seconds,
            "change_set_seconds": self.change_set_seconds,
            "echo_lambda_logs": self.echo_lambda_logs,
            "event_latency_seconds": self.event_latency_seconds,
            "topology": self.topology,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> EngineConfig:
        return cls(**data)  # type: ignore[arg-type]
