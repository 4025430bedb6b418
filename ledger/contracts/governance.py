"""Governance of a deployment: the regulator council (k of n regulator accounts) and the
Constitution timelock that holds the constitutional power (DESIGN.md "Governance").

A constitutional act is an :class:`Operation` — a batch of contract calls the constitution will
make. Council members :func:`approve` it; the k-th approval schedules it on the timelock, which
makes it executable after the governance delay (seconds, ``Constitution.getMinDelay()``); until
then any member may :func:`cancel` it; afterwards anyone may :func:`execute` it.
:func:`wait_until_ready` waits the delay out in real time (the product path: no time travel).

:func:`establish_governance` ends a deployment's bootstrap: the deployer (who holds the
constitution from ``ParticipantRegistry``'s constructor) deploys the timelock and the council,
binds the council members to the regulator organisation, hands the constitution to the timelock,
and renounces every power it had (it stays a regulator account only if it is a council member).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.chain.client import Call, ChainClient, TxResult
from ledger.contracts._generated import Constitution, ParticipantRegistry, RegulatorCouncil
from ledger.contracts.binding import FunctionCall
from ledger.contracts.compiler import Artifact
from ledger.contracts.deployment import Deployment, manifest_entry

#: Execution open to anyone once the delay has passed (OpenZeppelin TimelockController: the
#: zero address holding EXECUTOR_ROLE).
OPEN_EXECUTOR = "0x" + "00" * 20
#: Predecessor "none" of an operation.
NO_PREDECESSOR = bytes(32)


class GovernanceError(RuntimeError):
    """A governance parameter is invalid, or an operation is not in the state asked for."""


@dataclass(frozen=True)
class Operation:
    """One constitutional operation: calls the constitution makes together, in order.

    Attributes:
        targets: contract addresses; payloads: calldata of each call (selector + arguments);
        salt: 32 bytes that tell apart two otherwise equal operations; predecessor: an operation id
        that must be executed first (zero: none); label: what it does, for logs and errors.
    """

    targets: tuple[str, ...]
    payloads: tuple[bytes, ...]
    salt: bytes
    label: str
    predecessor: bytes = NO_PREDECESSOR

    @classmethod
    def of(cls, calls: Sequence[FunctionCall[Any]], salt: bytes, label: str) -> Operation:
        """The operation making ``calls`` (bindings' ``functions.<name>(...)``).

        Raises:
            GovernanceError: no calls, or a salt that is not 32 bytes.
        """
        if not calls:
            raise GovernanceError("an operation needs at least one call")
        if len(salt) != 32:
            raise GovernanceError(f"salt must be 32 bytes, got {len(salt)}")
        return cls(tuple(c.address for c in calls), tuple(c.data for c in calls), salt, label)

    @property
    def values(self) -> tuple[int, ...]:
        """Wei sent with each call: always 0 (CarbonLedger moves no ether)."""
        return tuple(0 for _ in self.targets)

    def args(self) -> tuple[list[str], list[int], list[bytes], bytes, bytes]:
        """The ``(targets, values, payloads, predecessor, salt)`` arguments of approve / executeBatch."""
        return list(self.targets), list(self.values), list(self.payloads), self.predecessor, self.salt


@dataclass(frozen=True)
class OperationState:
    """Where an operation stands: ``approvals`` of ``threshold`` collected; ``ready_at`` the UTC second
    from which it may be executed (0: not scheduled); ``done`` executed."""

    id: bytes
    approvals: int
    threshold: int
    ready_at: int
    done: bool


def operation_id(dep: Deployment, op: Operation) -> bytes:
    """The timelock's id of ``op`` (``hashOperationBatch``)."""
    return dep.constitution.hashOperationBatch(*op.args())


def approve(dep: Deployment, op: Operation, member: str) -> TxResult:
    """``member`` approves ``op``; the k-th approval schedules it.

    Raises:
        ContractRevert: NotCouncilMember, AlreadyApproved, AlreadyScheduled, InvalidOperation.
    """
    return dep.client.send([dep.council.approve(*op.args(), sender=member, label=f"approve {op.label}")])[0]


def cancel(dep: Deployment, op: Operation, member: str) -> TxResult:
    """``member`` cancels ``op`` (scheduled, or still collecting approvals).

    Raises:
        ContractRevert: NotCouncilMember; TimelockUnexpectedOperationState if already executed.
    """
    return dep.client.send([dep.council.cancel(operation_id(dep, op), sender=member, label=f"cancel {op.label}")])[0]


def execute(dep: Deployment, op: Operation, sender: str) -> TxResult:
    """Execute ``op`` from any account once it is ready.

    Raises:
        ContractRevert: TimelockUnexpectedOperationState (not scheduled, not yet ready, cancelled
            or done), or the revert of one of its calls.
    """
    return dep.client.send([dep.constitution.executeBatch(*op.args(), sender=sender, label=f"execute {op.label}")])[0]


def state(dep: Deployment, op: Operation) -> OperationState:
    """The operation's approvals, readiness time and whether it was executed."""
    oid = operation_id(dep, op)
    ts = dep.constitution.getTimestamp(oid)
    done = ts == 1  # OpenZeppelin's _DONE_TIMESTAMP
    return OperationState(oid, dep.council.approvals(oid), dep.council.threshold(), 0 if done else ts, done)


def wait_until_ready(dep: Deployment, op: Operation, *, timeout_s: float, poll_s: float = 0.5,
                     sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait in real time until ``op`` may be executed: the chain's latest block is later than its
    ready time, or (a node that seals blocks only for transactions) the wall clock is.

    Raises:
        GovernanceError: ``op`` is not scheduled, or is not ready within ``timeout_s`` seconds.
    """
    ready_at = state(dep, op).ready_at
    if ready_at == 0:
        raise GovernanceError(f"{op.label}: not scheduled (approvals below the threshold, cancelled or done)")
    deadline = time.monotonic() + timeout_s
    while True:
        head = int(dep.client.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
        if max(head, int(time.time())) > ready_at:
            return
        if time.monotonic() > deadline:
            raise GovernanceError(f"{op.label}: not ready within {timeout_s} s (ready at {ready_at})")
        sleep(poll_s)


def check(dep: Deployment, op: Operation) -> None:
    """Refuse an operation whose first call the constitution could not make now (a pre-flight from
    the constitution's address), so bad input fails before anyone approves and waits the delay.
    Only the first call is checked: later calls may depend on the earlier ones' effects.

    Raises:
        ContractRevert: the call's custom error (e.g. ``InvalidQuorum``).
    """
    dep.client.preflight([Call(dep.constitution.address, op.targets[0], op.payloads[0], f"check {op.label}")])


def govern(dep: Deployment, op: Operation, members: Sequence[str], executor: str, *,
           wait: Callable[[Deployment, Operation], None] | None = None) -> list[TxResult]:
    """Carry a constitutional act through, resuming where it stands: :func:`check` before the first
    approval, approvals by ``members`` who
    have not approved yet until the threshold is reached, the delay waited out (``wait``; default
    :func:`wait_until_ready` with the delay plus 30 s of slack), then execution by ``executor``.
    An operation already executed is left alone. Returns the transactions sent.

    Raises:
        GovernanceError: ``members`` cannot reach the threshold. ContractRevert: as approve / execute.
    """
    st = state(dep, op)
    if st.done:
        return []
    results: list[TxResult] = []
    if st.ready_at == 0:
        if st.approvals == 0:
            check(dep, op)
        missing = [m for m in members if not dep.council.hasApproved(st.id, m)]
        need = st.threshold - st.approvals
        if len(missing) < need:
            raise GovernanceError(f"{op.label}: {st.approvals} + {len(missing)} approvals possible, the council needs "
                                  f"{st.threshold}")
        results += [approve(dep, op, m) for m in missing[:need]]
    delay = dep.constitution.getMinDelay()
    (wait or (lambda d, o: wait_until_ready(d, o, timeout_s=delay + 30)))(dep, op)
    results.append(execute(dep, op, executor))
    return results


def proposals(dep: Deployment, from_block: int | None = None) -> list[tuple[Operation, OperationState]]:
    """Every operation the council was asked to approve (from its ``OperationApproved`` events, which
    carry the calls, so a member can read an operation before approving it), with its state now;
    oldest first, one entry per operation id.

    Args:
        from_block: first block to search (default: the deployment block of the manifest).
    """
    start = dep.manifest.get("deployment_block", 0) if from_block is None else from_block
    seen: dict[bytes, Operation] = {}
    for log in dep.council.get_logs("OperationApproved", start):
        e = log.event
        if e.id not in seen:
            seen[e.id] = Operation(tuple(e.targets), tuple(bytes(b) for b in e.payloads), bytes(e.salt),
                                   "0x" + bytes(e.id).hex(), bytes(e.predecessor))
    return [(op, state(dep, op)) for op in seen.values()]


def find_operation(dep: Deployment, op_id: bytes) -> Operation:
    """The operation with id ``op_id`` from the council's events.

    Raises:
        GovernanceError: no member ever approved an operation with that id.
    """
    for op, st in proposals(dep):
        if st.id == op_id:
            return op
    raise GovernanceError(f"no operation 0x{op_id.hex()} was proposed to the council")


def is_governed(dep: Deployment) -> bool:
    """Whether the deployment's constitution was handed to a council (its manifest names one)."""
    return "Constitution" in dep.manifest["contracts"]


def establish_governance(client: ChainClient, artifacts: dict[str, Artifact], manifest: dict[str, Any], deployer: str,
                         members: Sequence[str], threshold: int, min_delay_s: int) -> dict[str, Any]:
    """End the bootstrap of a deployment: the council of ``members`` (k = ``threshold``) behind a
    Constitution timelock of ``min_delay_s`` seconds holds the constitution from now on, and
    ``deployer`` keeps no constitutional power. Updates ``manifest`` in place and returns it
    (``contracts`` gains Constitution and RegulatorCouncil; ``governance`` records the parameters).

    Members not yet bound become accounts of the regulator organisation; ``deployer``, if it is
    not a member, is removed from it.

    Args:
        deployer: the account holding the constitution now (the one that deployed the registry).
        members: council members (n), regulator accounts to be; threshold: k, n/2 < k <= n.
        min_delay_s: governance delay in seconds (> 0; the demo uses <= 30, DESIGN.md "Governance").

    Raises:
        GovernanceError: bad parameters, or ``deployer`` does not hold the constitution.
        ContractRevert: a deployment or wiring call reverted.
    """
    n = len(members)
    if n == 0 or len(set(members)) != n or not (n < 2 * threshold <= 2 * n):
        raise GovernanceError(f"a council needs n/2 < k <= n distinct members; got k={threshold}, n={n}")
    if min_delay_s <= 0:
        raise GovernanceError(f"the governance delay must be positive, got {min_delay_s} s")
    dep = Deployment(client, manifest)
    pr: ParticipantRegistry = dep.participants
    if pr.constitution().lower() != deployer.lower():
        raise GovernanceError(f"{deployer} does not hold the constitution ({pr.constitution()} does)")
    tl = Constitution.deploy(client, deployer, artifacts["Constitution"].bytecode, min_delay_s, [], [OPEN_EXECUTOR],
                             deployer)
    council = RegulatorCouncil.deploy(client, deployer, artifacts["RegulatorCouncil"].bytecode, pr.address, tl.address,
                                      list(members), threshold)
    reg_org = pr.orgOf(deployer)
    binds = [pr.addAccount(reg_org, m, sender=deployer, label="bind council member") for m in members if pr.orgOf(m) != reg_org]
    if binds:
        client.send(binds)   # before the deployer's removal: the regulator never has no account
    calls: list[Call] = []
    if deployer not in members:
        calls.append(pr.removeAccount(reg_org, deployer, sender=deployer, label="unbind the deployer"))
    calls += [tl.grantRole(tl.PROPOSER_ROLE(), council.address, sender=deployer, label="council proposes"),
              tl.grantRole(tl.CANCELLER_ROLE(), council.address, sender=deployer, label="council cancels"),
              pr.transferConstitution(tl.address, sender=deployer, label="hand over the constitution"),
              tl.renounceRole(tl.DEFAULT_ADMIN_ROLE(), deployer, sender=deployer, label="deployer renounces")]
    client.send(calls)
    manifest["contracts"]["Constitution"] = manifest_entry(artifacts["Constitution"], tl.address)
    manifest["contracts"]["RegulatorCouncil"] = manifest_entry(artifacts["RegulatorCouncil"], council.address)
    manifest["governance"] = {"members": list(members), "threshold": threshold, "min_delay_s": min_delay_s}
    return manifest
