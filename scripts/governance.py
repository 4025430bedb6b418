"""``carbonledger governance``: the regulator council's constitutional acts from the command line
(DESIGN.md "Governance"; the logic is :mod:`ledger.contracts.governance`).

    carbonledger governance status                       council, delay, every proposed operation
    carbonledger governance approve 0xID --member regulator-b
    carbonledger governance cancel 0xID --member regulator-c
    carbonledger governance execute 0xID [--wait]        after the delay; any account may execute

An operation is proposed by its first approval (from Python: ``governance.approve``, or the demo's
``System.constitutional``); its calls are in the council's ``OperationApproved`` event, which
``status`` lists, so the other members approve by id what they have read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ledger.chain.client import ChainClient, ContractRevert
from ledger.contracts.deployment import Deployment
from ledger.contracts.governance import (
    GovernanceError,
    approve,
    cancel,
    execute,
    find_operation,
    is_governed,
    proposals,
    state,
    wait_until_ready,
)
from ledger.store.db import make_engine, sqlite_url
from oracles.system import open_keystore
from scripts.terminal import console

governance_app = typer.Typer(help="The regulator council: approve, cancel, execute constitutional acts.", no_args_is_help=True)
DataDir = Annotated[Path, typer.Option("--data-dir", envvar="CARBONLEDGER_HOME", help="State directory of the deployment.")]
RpcUrl = Annotated[str, typer.Option(help="JSON-RPC URL of the chain.")]
Member = Annotated[str, typer.Option("--member", help="Keystore label of the council member acting (regulator, regulator-b, …).")]


def _open(data_dir: Path, rpc_url: str, member: str) -> tuple[Deployment, str]:
    """The governed deployment of ``data_dir`` and the address of ``member``'s key (loaded)."""
    manifest = data_dir / "deployment.json"
    if not manifest.exists():
        raise typer.BadParameter(f"{data_dir} holds no deployment; run `carbonledger deploy` first")
    client = ChainClient(rpc_url, make_engine(sqlite_url(data_dir / "governance-journal.sqlite")))
    dep = Deployment.load(client, manifest)
    if not is_governed(dep):
        raise typer.BadParameter("this deployment has no council yet (the deployer still holds the constitution)")
    ks = open_keystore(data_dir)
    if member not in ks.labels():
        raise typer.BadParameter(f"no key {member!r} in {data_dir}/keystore")
    return dep, client.add_account(ks.unlock(member))


def _op_id(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise typer.BadParameter(f"an operation id is 32 bytes of hex, got {text!r}")
    return raw


@governance_app.command("status")
def status(data_dir: DataDir = Path(".carbonledger"), rpc_url: RpcUrl = "http://127.0.0.1:8545") -> None:
    """The council (members, k, delay) and every operation proposed to it."""
    dep, _ = _open(data_dir.resolve(), rpc_url, "regulator")
    c = dep.council
    console.print(f"constitution {dep.constitution.address}: {c.threshold()} of {len(c.members())} "
                  f"({', '.join(c.members())}), delay {dep.constitution.getMinDelay()} s")
    t = Table(title="operations")
    for col in ("id", "calls", "approvals", "state"):
        t.add_column(col)
    for op, st in proposals(dep):
        where = "done" if st.done else (f"ready from {st.ready_at}" if st.ready_at else "collecting approvals")
        t.add_row("0x" + st.id.hex(), str(len(op.targets)), f"{st.approvals}/{st.threshold}", where)
    console.print(t)


@governance_app.command("approve")
def approve_(op_id: str, member: Member, data_dir: DataDir = Path(".carbonledger"),
             rpc_url: RpcUrl = "http://127.0.0.1:8545") -> None:
    """Approve a proposed operation; the k-th approval schedules it."""
    dep, who = _open(data_dir.resolve(), rpc_url, member)
    try:
        op = find_operation(dep, _op_id(op_id))
        approve(dep, op, who)
    except (GovernanceError, ContractRevert) as e:
        raise typer.BadParameter(str(e)) from None
    st = state(dep, op)
    console.print(f"approved: {st.approvals}/{st.threshold}" + (f", executable from {st.ready_at}" if st.ready_at else ""))


@governance_app.command("cancel")
def cancel_(op_id: str, member: Member, data_dir: DataDir = Path(".carbonledger"),
            rpc_url: RpcUrl = "http://127.0.0.1:8545") -> None:
    """Cancel an operation during its delay (or while it collects approvals)."""
    dep, who = _open(data_dir.resolve(), rpc_url, member)
    try:
        cancel(dep, find_operation(dep, _op_id(op_id)), who)
    except (GovernanceError, ContractRevert) as e:
        raise typer.BadParameter(str(e)) from None
    console.print("cancelled")


@governance_app.command("execute")
def execute_(op_id: str, member: Member = "regulator", wait: Annotated[bool, typer.Option(help="Wait the delay out first.")] = False,
             data_dir: DataDir = Path(".carbonledger"), rpc_url: RpcUrl = "http://127.0.0.1:8545") -> None:
    """Execute a scheduled operation once its delay has passed (``--wait``: wait for it)."""
    dep, who = _open(data_dir.resolve(), rpc_url, member)
    try:
        op = find_operation(dep, _op_id(op_id))
        if wait:
            wait_until_ready(dep, op, timeout_s=dep.constitution.getMinDelay() + 30)
        res = execute(dep, op, who)
    except (GovernanceError, ContractRevert) as e:
        raise typer.BadParameter(str(e)) from None
    console.print(f"executed in block {res.block_number} ({res.gas_used} gas)")
