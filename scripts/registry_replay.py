"""``carbonledger registry replay`` — load real offset-registry exports through the contracts.

The exports in ``--data`` (ACR, CAR, GOLD, VCS issuances; ACR, CAR retirements; projects.csv —
see :mod:`ledger.offsets.registry_exports`) are replayed as CCER-like projects, issuance batches and
retirements through ``CCERRegistry`` and ``CarbonAssets`` on a throwaway Anvil chain (or the
dev chain at ``--rpc-url``), in bulk: hundreds of signed transactions per JSON-RPC batch.

Who acts on the ledger
    * one regulator (deploys, admits, grants CarbonAssets' CCER_ISSUER_ROLE to CCERRegistry);
    * one registry operator (REGISTRY_ROLE) who registers projects, issues batches and retires
      on the holders' behalf;
    * one project-owner / holding account per source registry (PROJECT_OWNER_ROLE), e.g.
      "ACR holdings (replay)". Real developers and account holders have no USCC (统一社会信用代码),
      so they cannot be admitted one by one: their names go into the certificate text instead
      (beneficiary = the export's Account Holder, purpose = Retirement Reason, reason = the
      details plus the source row and serial text). The USCCs of these replay organisations are
      synthetic (valid check digit, made with :func:`ledger.identifiers.make_uscc`).

Project numbers (uint64): registry code × 10^9 + the export's number
(:func:`ledger.offsets.registry_exports.project_number`): ACR 1, CAR 2, GOLD 3, VCS 4 — so "ACR102" is
project 1000000102 and "GS1001" is 3000001001.

Refusals: rows the loaders cannot read, rows the replay policy or the contracts' own rules
refuse (checked first in Python by :func:`ledger.offsets.registry_exports.plan_replay`, so a whole
batch is not lost to one bad row), and anything the contracts still refuse: a pre-flight revert
removes that call from its batch and the rest is sent again; a transaction that reverts when
mined is explained by re-running it as ``eth_call``. Each becomes ``{"row", "reason"}`` with the
decoded custom error.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_abi import encode as abi_encode
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ledger.chain.abi import abi_type
from ledger.chain.anvil import AnvilNode, anvil_binary
from ledger.chain.client import Call, ChainClient, ContractRevert, TxResult
from ledger.contracts._generated.ccer_registry import BatchIssued
from ledger.contracts.compiler import Artifact, compile_contracts
from ledger.contracts.deploy import deploy_all, deploy_assets, deploy_market
from ledger.contracts.deployment import BINDINGS, Deployment
from ledger.crypto.primitives import keccak256, new_private_key
from ledger.identifiers import make_uscc, org_id, uscc_bytes32
from ledger.offsets.registry_exports import (
    PlannedBatch,
    PlannedRetirement,
    ProjectTotals,
    Refusal,
    RegistryExports,
    load_registry_exports,
    parse_registries,
    plan_replay,
    project_number,
    reconcile,
)
from ledger.store.db import make_engine, sqlite_url

ROOT = Path(__file__).resolve().parent.parent
#: Calls per ChainClient.send (one JSON-RPC batch of signed transactions).
DEFAULT_CHUNK = 400
#: UTC offset of the replay organisations (China Standard Time, UTC+8).
CST_OFFSET = 8 * 3600

#: Synthetic USCCs of the replay organisations (valid check digits, not real organisations).
REPLAY_USCC = {
    "regulator": make_uscc("1", "1", "110000", "RPLREG01"),
    "registry": make_uscc("1", "2", "110000", "RPLCCER1"),
    "ACR": make_uscc("9", "1", "110000", "RPLACR01"),
    "CAR": make_uscc("9", "1", "110000", "RPLCAR01"),
    "GOLD": make_uscc("9", "1", "110000", "RPLGLD01"),
    "VCS": make_uscc("9", "1", "110000", "RPLWCX01"),
}

console = Console(width=None if sys.stdout.isatty() else 150)
registry_app = typer.Typer(help="Offset-registry exports: replay through the contracts.",
                           no_args_is_help=True)


# -------------------------------------------------------------------------------- deployment


@dataclass
class ReplayLedger:
    """The chain side of a replay: client, core deployment, CarbonAssets, CCERRegistry, accounts."""

    client: ChainClient
    dep: Deployment
    assets: Any
    registry: Any
    acct: dict[str, str]
    addresses: dict[str, str] = field(default_factory=dict)
    _fast: dict[str, FastCall] = field(default_factory=dict, repr=False)

    def fast(self, name: str) -> FastCall:
        """Fast encoder of CCERRegistry function ``name``."""
        if name not in self._fast:
            self._fast[name] = FastCall(self.registry, name)
        return self._fast[name]


def _contract(client: ChainClient, art: Artifact, address: str) -> Any:
    return BINDINGS[art.name](client, address)


def deploy_replay_ledger(client: ChainClient, artifacts: dict[str, Artifact],
                         registries: Sequence[str], *, dep: Deployment | None = None,
                         regulator: str | None = None) -> ReplayLedger:
    """Deploy CarbonAssets and CCERRegistry (ledger.contracts.deployment) — and the core contracts first unless
    ``dep`` and its ``regulator`` account are given — and admit the registry operator and one
    holding organisation per source registry (new keys, funded on the dev chain).

    Raises:
        ContractRevert: a deployment or admission step reverted (e.g. an organisation of the
            same USCC is already admitted in ``dep``).
    """
    names = ["registry", *registries] + ([] if dep else ["regulator"])
    acct = {n: client.add_account(new_private_key()) for n in names}
    client.fund_on_dev_chain(acct.values())
    if dep is None:
        reg = acct["regulator"]
        manifest = deploy_all(client, artifacts, reg, org_id(REPLAY_USCC["regulator"]),
                              uscc_bytes32(REPLAY_USCC["regulator"]))
        dep = Deployment(client, manifest)
    else:
        if regulator is None:
            raise ValueError("give the regulator account of the existing deployment")
        reg = acct["regulator"] = regulator
        manifest = dep.manifest
    assets_addr = deploy_assets(client, artifacts, reg, dep.participants.address)
    market = deploy_market(client, artifacts, reg, dep.participants.address, assets_addr)
    assets = _contract(client, artifacts["CarbonAssets"], assets_addr)
    ccer_addr = market["CCERRegistry"]
    ccer = _contract(client, artifacts["CCERRegistry"], ccer_addr)
    pr = dep.participants.functions
    calls = [Call.of(pr.admit(org_id(REPLAY_USCC["registry"]), dep.role("REGISTRY_ROLE"),
                              uscc_bytes32(REPLAY_USCC["registry"]), CST_OFFSET, acct["registry"],
                              "CCER registry operator (replay)"), reg, "admit registry")]
    owner_role = dep.role("PROJECT_OWNER_ROLE")
    for r in registries:
        calls.append(Call.of(pr.admit(org_id(REPLAY_USCC[r]), owner_role, uscc_bytes32(REPLAY_USCC[r]),
                                      CST_OFFSET, acct[r], f"{r} holdings (replay)"), reg,
                             f"admit {r} holdings"))
    client.send(calls)
    return ReplayLedger(client, dep, assets, ccer, acct, {
        **{n: i["address"] for n, i in manifest["contracts"].items()},
        "CarbonAssets": assets_addr, **market})


# -------------------------------------------------------------------------------- sending


@dataclass
class Sent:
    """Outcome of sending a list of labelled calls: receipts of the mined ones by label, and
    the refused ones as (label, reason)."""

    ok: dict[str, TxResult] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)


def _revert_text(e: ContractRevert) -> str:
    args = ", ".join(a.hex() if isinstance(a, bytes) else str(a) for a in e.args_)
    return f"contract refused: {e.error}({args})"


def send_all(client: ChainClient, calls: Sequence[Call], *, chunk: int = DEFAULT_CHUNK,
             advance: Callable[[int], None] | None = None, gas_cap: int | None = None) -> Sent:
    """Send ``calls`` (unique labels) in JSON-RPC batches; never stop on a refusal.

    Each chunk of ``chunk`` calls is pre-flighted in one batch (``eth_estimateGas``); a revert
    names its call (label), which is set aside with the decoded error, and the rest is
    pre-flighted again. The survivors get their gas limit (estimate + 25 % + 30,000, as
    ``ChainClient.send`` gives) and are sent in groups whose gas limits sum to at most
    ``gas_cap`` (default 90 % of the block gas limit): Anvil's automine packs the pending pool
    into blocks when a transaction arrives, so a group that does not fit one block would leave
    transactions pending with nothing to trigger the next block. A mined transaction that
    reverted anyway is re-run as ``eth_call`` on the latest state to decode why.
    """
    out = Sent()
    if gas_cap is None:
        block = client.rpc("eth_getBlockByNumber", "latest", False)
        gas_cap = int(int(block["gasLimit"], 16) * 0.9)
    for lo in range(0, len(calls), chunk):
        pending = list(calls[lo:lo + chunk])
        while pending:
            try:
                gases = client.preflight(pending)
                break
            except ContractRevert as e:
                idx = next((i for i, c in enumerate(pending) if c.label == e.label), None)
                if idx is None:
                    raise
                out.refused.append((e.label, _revert_text(e)))
                del pending[idx]
        else:
            gases = []
        sized = [replace(c, gas=int(g * 1.25) + 30_000) for c, g in zip(pending, gases)]
        group: list[Call] = []
        total = 0
        for c in [*sized, None]:
            if c is not None and (not group or total + (c.gas or 0) <= gas_cap):
                group.append(c)
                total += c.gas or 0
                continue
            _send_group(client, group, out)
            group, total = ([c], c.gas or 0) if c is not None else ([], 0)
        if advance:
            advance(min(chunk, len(calls) - lo))
    return out


def _send_group(client: ChainClient, group: list[Call], out: Sent) -> None:
    if not group:
        return
    results = client.send(group, raise_on_revert=False)
    failed = []
    for c, r in zip(group, results):
        if r.status == 1:
            out.ok[c.label] = r
        else:
            failed.append(c)
    if failed:
        reqs = [("eth_call", [{"from": c.sender, "to": c.to, "data": "0x" + c.data.hex()}, "latest"])
                for c in failed]
        for c, resp in zip(failed, client.rpc_batch(reqs)):
            err = resp.get("error")
            why = (_revert_text(client.decode_revert((err or {}).get("data"), c.label))
                   if err else "reverted when mined (out of gas, or state changed before it ran)")
            out.refused.append((c.label, why))


# -------------------------------------------------------------------------------- encoding


class FastCall:
    """Calldata of one contract function encoded with eth_abi directly (web3's per-call
    argument normalisation cost ~1 ms a call, a fifth of a full replay's time)."""

    def __init__(self, contract: Any, name: str) -> None:
        (abi,) = [i for i in contract.abi if i.get("type") == "function" and i["name"] == name]
        self.types = [abi_type(i) for i in abi["inputs"]]
        self.selector = keccak256(f"{name}({','.join(self.types)})".encode())[:4]
        self.to = contract.address

    def __call__(self, sender: str, label: str, *args: Any) -> Call:
        return Call(sender, self.to, self.selector + abi_encode(self.types, list(args)), label)


def _bytes32_text(text: str) -> bytes:
    """keccak256 of a long or non-ASCII text, the text right-padded when it fits 32 bytes."""
    raw = text.strip().encode()
    if not raw:
        return b"\x00" * 32
    return raw.ljust(32, b"\x00") if len(raw) <= 32 else keccak256(raw)


def _utc_seconds(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def _project_call(ledger: ReplayLedger, reg: str, pid: str, batches: list[PlannedBatch],
                  totals: ProjectTotals | None) -> Call:
    first = min(b.issuance.issued_on for b in batches)
    vintage = min(b.issuance.vintage for b in batches)
    registered = totals.registered_on if totals and totals.registered_on else first
    start_year = totals.first_year if totals and totals.first_year else vintage
    country = (totals.country if totals and totals.country else batches[0].issuance.country)
    name = batches[0].issuance.project_name or (totals.name if totals else "") or pid
    return ledger.fast("registerProject")(
        ledger.acct["registry"], f"project {pid}", project_number(pid), ledger.acct[reg],
        _bytes32_text(totals.methodology if totals else ""), _bytes32_text(country),
        _utc_seconds(registered), _utc_seconds(date(max(start_year, 1970), 1, 1)), f"{pid} {name}")


def _batch_label(b: PlannedBatch) -> str:
    return f"{b.issuance.file}:{b.issuance.row}"


def _batch_call(ledger: ReplayLedger, b: PlannedBatch) -> Call:
    i = b.issuance
    s = i.serial
    ref = _batch_label(b).encode()[:32].ljust(32, b"\x00")
    return ledger.fast("issueBatch")(
        ledger.acct["registry"], _batch_label(b), project_number(i.project_id), i.vintage,
        i.quantity, b.serial_prefix, s.start if s else 0, s.end if s else 0, ref)


def _retire_label(p: PlannedRetirement) -> str:
    r = p.retirement
    return f"{r.file}:{r.row}" + (f"#{p.part}" if p.parts > 1 else "")


def _retire_call(ledger: ReplayLedger, reg: str, p: PlannedRetirement, batch_id: int) -> Call:
    r = p.retirement
    details = "; ".join(x for x in (
        r.details, f"{r.file}:{r.row}", f"serials {r.serial}",
        f"effective {r.effective_on.isoformat()}",
        f"part {p.part} of {p.parts}" if p.parts > 1 else "") if x)
    req = (ledger.acct[reg], batch_id, p.amount, p.prefix, p.start, p.end,
           r.account_holder or f"(no account holder in {r.file})",
           r.reason or f"(no retirement reason in {r.file})", details)
    return ledger.fast("retire")(ledger.acct["registry"], _retire_label(p), req)


def _batch_id(ledger: ReplayLedger, result: TxResult) -> int:
    issued = ledger.registry.decode_events(result, BatchIssued)
    if not issued:
        raise RuntimeError(f"{result.label}: no BatchIssued event in the receipt")
    return int(issued[0].batchId)


# -------------------------------------------------------------------------------- replay


def _refusal_json(r: Refusal) -> dict[str, Any]:
    return r.as_json()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def replay(data_dir: Path | str, registries: Sequence[str] | str | None, report_json: Path | str | None,
           rpc_url: str | None = None, *, state_dir: Path | None = None, limit: int | None = None,
           chunk: int = DEFAULT_CHUNK, show_progress: bool = True) -> dict[str, Any]:
    """Replay the exports in ``data_dir`` through the contracts and return (and write) the report.

    Args:
        registries: e.g. ``"ACR,CAR"`` or ``["GOLD"]``; None for all four.
        report_json: where to write the JSON report (None: not written).
        rpc_url: a dev chain (Anvil: accounts are funded with ``anvil_setBalance``); None starts
            a throwaway Anvil.
        state_dir: where the started node keeps its snapshot and the journal (kept, snapshotted
            at the end); None uses a temporary directory that is deleted.
        limit: replay only the first ``limit`` data rows of each file (CI slices).
        chunk: calls per JSON-RPC batch.

    Returns:
        ``{"registries": {REG: {"projects", "issuance_batches", "issued_t", "retirements",
        "retired_t", "refused": [{"row", "reason"}], …}}, "seconds", "transactions", "gas_used",
        "reconciliation": {REG: …}, …}`` — issued_t / retired_t in tCO2e as recorded on chain.

    Raises:
        ExportFormatError: a file is missing or lacks a required column.
        ValueError: an unknown registry.
    """
    t0 = time.monotonic()
    regs = parse_registries(registries)
    exports = load_registry_exports(data_dir, regs, limit=limit)
    tmp: Path | None = None
    if state_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="carbonledger-replay-"))
        home = tmp
    else:
        home = Path(state_dir)
        home.mkdir(parents=True, exist_ok=True)
    node: AnvilNode | None = None
    try:
        if rpc_url is None:
            node = AnvilNode(anvil_binary(ROOT), home / "anvil", port=_free_port())
            node.start()
            url = node.url
        else:
            url = rpc_url
        client = ChainClient(url, make_engine(sqlite_url(home / "replay-journal.sqlite")))
        artifacts = compile_contracts(ROOT, ROOT / ".carbonledger" / "build")
        for a in artifacts.values():
            client.register_errors(a.abi)
        report = _run(client, artifacts, exports, regs, chunk, show_progress)
        report["rpc_url"] = rpc_url or "throwaway Anvil"
        report["rows_limit"] = limit
        report["seconds"] = round(time.monotonic() - t0, 2)
        report["transactions_per_second"] = round(report["transactions"] / report["seconds"], 1)
        if report_json is not None:
            p = Path(report_json)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(report, indent=1, ensure_ascii=False))
        return report
    finally:
        if node is not None:
            node.stop(snapshot=state_dir is not None)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(client: ChainClient, artifacts: dict[str, Artifact], exports: RegistryExports,
         regs: Sequence[str], chunk: int, show_progress: bool) -> dict[str, Any]:
    tx0, gas0 = client.tx_count, client.gas_used
    ledger = deploy_replay_ledger(client, artifacts, regs)
    setup = {"transactions": client.tx_count - tx0, "gas_used": client.gas_used - gas0}
    projects = {p.project_id: p for p in exports.projects.rows}
    plans = {r: plan_replay(exports, r) for r in regs}
    out: dict[str, Any] = {"registries": {}}
    contract_refused: list[Refusal] = []
    replayed: dict[str, dict[str, Counter[str]]] = {}
    progress = Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                        disable=not show_progress, transient=False)
    with progress:
        tasks = {}
        for r in regs:
            p = plans[r]
            tasks[r] = progress.add_task(f"{r}", total=len(p.projects) + len(p.batches)
                                         + len(p.retirements) + len(p.cancellations))
        for r in regs:
            t_reg = time.monotonic()
            tx_r, gas_r = client.tx_count, client.gas_used
            plan = plans[r]
            adv: Callable[[int], None] = (lambda n, _t=tasks[r]: progress.advance(_t, n))
            by_project: dict[str, list[PlannedBatch]] = {}
            for b in plan.batches:
                by_project.setdefault(b.issuance.project_id, []).append(b)
            # 1. projects
            progress.update(tasks[r], description=f"{r} projects")
            sent_p = send_all(client, [_project_call(ledger, r, pid, by_project[pid], projects.get(pid))
                                       for pid in plan.projects], chunk=chunk, advance=adv)
            refused_projects = {label.removeprefix("project "): why for label, why in sent_p.refused}
            # 2. batches
            progress.update(tasks[r], description=f"{r} issuance batches")
            calls, batch_of = [], {}
            refused_here: list[Refusal] = []
            for b in plan.batches:
                i = b.issuance
                if i.project_id in refused_projects:
                    refused_here.append(Refusal(r, i.file, i.row, f"project not registered: "
                                                f"{refused_projects[i.project_id]}", i.project_id,
                                                i.quantity))
                    adv(1)
                    continue
                calls.append(_batch_call(ledger, b))
                batch_of[_batch_label(b)] = b
            sent_b = send_all(client, calls, chunk=chunk, advance=adv)
            batch_ids: dict[int, int] = {}
            issued: Counter[str] = Counter()
            for label, res in sent_b.ok.items():
                b = batch_of[label]
                batch_ids[b.index] = _batch_id(ledger, res)
                issued[b.issuance.project_id] += b.issuance.quantity
            for label, why in sent_b.refused:
                i = batch_of[label].issuance
                refused_here.append(Refusal(r, i.file, i.row, why, i.project_id, i.quantity))
            # 3. retirements (all issuance is mined by now)
            progress.update(tasks[r], description=f"{r} retirements")
            calls, part_of = [], {}
            for p in plan.retirements:
                if p.batch_index not in batch_ids:
                    x = p.retirement
                    refused_here.append(Refusal(r, x.file, x.row, "its issuance batch was not "
                                                "issued (see the batch's refusal)", x.project_id,
                                                p.amount, "retirement"))
                    adv(1)
                    continue
                calls.append(_retire_call(ledger, r, p, batch_ids[p.batch_index]))
                part_of[_retire_label(p)] = p
            sent_r = send_all(client, calls, chunk=chunk, advance=adv)
            retired: Counter[str] = Counter()
            rows_ok: set[tuple[str, int]] = set()
            rows_bad: set[tuple[str, int]] = set()
            for label in sent_r.ok:
                p = part_of[label]
                retired[p.retirement.project_id] += p.amount
                rows_ok.add((p.retirement.file, p.retirement.row))
            for label, why in sent_r.refused:
                p = part_of[label]
                x = p.retirement
                rows_bad.add((x.file, x.row))
                refused_here.append(Refusal(r, x.file, x.row, why + (f" (part {p.part} of {p.parts})"
                                                                      if p.parts > 1 else ""),
                                            x.project_id, p.amount, "retirement"))
            # 4. cancellations (CAR: canceled for ARB compliance, converted to VCUs, canceled)
            progress.update(tasks[r], description=f"{r} cancellations")
            calls, cancel_of = [], {}
            for c in plan.cancellations:
                label = f"{c.issuance.file}:{c.issuance.row} cancel {c.destination}"
                cancel_of[label] = c
                calls.append(ledger.fast("cancel")(
                    ledger.acct["registry"], label, ledger.acct[r],
                    project_number(c.issuance.project_id), c.issuance.vintage, c.amount,
                    c.destination.encode().ljust(32, b"\x00")))
            sent_c = send_all(client, calls, chunk=chunk, advance=adv)
            cancelled: Counter[str] = Counter()
            for label in sent_c.ok:
                cancelled[cancel_of[label].issuance.project_id] += cancel_of[label].amount
            for label, why in sent_c.refused:
                c = cancel_of[label]
                refused_here.append(Refusal(r, c.issuance.file, c.issuance.row,
                                            f"cancellation to {c.destination}: {why}",
                                            c.issuance.project_id, c.amount, "cancellation"))
            contract_refused += refused_here
            replayed[r] = {"issued": issued, "retired": retired, "cancelled": cancelled}
            all_refused = [*exports.refused(r), *plan.refused, *refused_here]
            all_refused.sort(key=lambda x: (x.file, x.row))
            out["registries"][r] = {
                "projects": len(plan.projects) - len(refused_projects),
                "issuance_batches": len(sent_b.ok),
                "issued_t": sum(issued.values()),
                "retirements": len(rows_ok - rows_bad),
                "retired_t": sum(retired.values()),
                "refused": [_refusal_json(x) for x in all_refused],
                "retirement_certificates": len(sent_r.ok),
                "cancellations": len(sent_c.ok),
                "cancelled_t": sum(cancelled.values()),
                "refused_by_contract": len(refused_here),
                "transactions": client.tx_count - tx_r,
                "gas_used": client.gas_used - gas_r,
                "seconds": round(time.monotonic() - t_reg, 2),
            }
            progress.update(tasks[r], description=f"{r} done")
    check = _chain_check(ledger, replayed)
    plan_refused = [x for r in regs for x in plans[r].refused]
    rec = reconcile(exports, [*plan_refused, *contract_refused], replayed)
    out["reconciliation"] = {r: rec.as_json(r) for r in regs}
    out["chain_check"] = check
    out["setup"] = setup
    out["transactions"] = client.tx_count - tx0
    out["gas_used"] = client.gas_used - gas0
    out["contracts"] = ledger.addresses
    out["project_numbers"] = "registry code × 10^9 + export number (ACR 1, CAR 2, GOLD 3, VCS 4)"
    return out


def _chain_check(ledger: ReplayLedger, replayed: dict[str, dict[str, Counter[str]]]
                 ) -> dict[str, Any]:
    """Read every replayed project's issued/retired supply back from CarbonAssets (batched
    ``eth_call`` of ``supplyOf``) and compare with what the replay counted as mined."""
    client = ledger.client
    # token ids per project from the registry's batches
    n = ledger.registry.batchCount()
    ids = {(b.project, b.vintage) for b in client.call_many([ledger.registry.functions.batch(i) for i in range(1, n + 1)])}
    from ledger.accounting.assets import ccer_id
    from ledger.offsets.registry_exports import project_id_of

    pairs = sorted(ids)
    supplies = client.call_many([ledger.assets.functions.supplyOf(ccer_id(v, p)) for p, v in pairs])
    chain_iss: Counter[str] = Counter()
    chain_ret: Counter[str] = Counter()
    chain_can: Counter[str] = Counter()
    for (p, _v), s in zip(pairs, supplies):
        chain_iss[project_id_of(p)] += s.issued
        chain_ret[project_id_of(p)] += s.retired
        chain_can[project_id_of(p)] += s.cancelled
    want_iss: Counter[str] = Counter()
    want_ret: Counter[str] = Counter()
    want_can: Counter[str] = Counter()
    for r in replayed.values():
        want_iss.update(r["issued"])
        want_ret.update(r["retired"])
        want_can.update(r["cancelled"])
    mism = [pid for pid in set(chain_iss) | set(want_iss) | set(want_ret)
            if (chain_iss[pid], chain_ret[pid], chain_can[pid])
            != (want_iss[pid], want_ret[pid], want_can[pid])]
    return {"batches_on_chain": n, "asset_ids": len(pairs),
            "issued_t_on_chain": sum(chain_iss.values()), "retired_t_on_chain": sum(chain_ret.values()),
            "cancelled_t_on_chain": sum(chain_can.values()),
            "projects_mismatching": sorted(mism)}


# -------------------------------------------------------------------------------- printing


def _cells(keys: Sequence[str], vals: Sequence[int]) -> list[str]:
    return [f"{v / 1e6:,.1f}" if k == "gas_used" else f"{v:,}" for k, v in zip(keys, vals)]


def print_summary(report: dict[str, Any], out: Console | None = None) -> None:
    """Readable summary: per registry what reached the ledger, then the reconciliation."""
    c = out or console
    t = Table(title="Registry replay (1 credit = 1 tCO2e)")
    cols = ("projects", "batches", "issued t", "retirements", "certif.", "retired t",
            "cancelled t", "refused", "tx", "Mgas")
    keys = ("projects", "issuance_batches", "issued_t", "retirements", "retirement_certificates",
            "retired_t", "cancelled_t", "refused", "transactions", "gas_used")
    t.add_column("registry")
    for col in (*cols, "s"):
        t.add_column(col, justify="right")
    tot: Counter[str] = Counter()
    for reg, r in report["registries"].items():
        vals = [len(r[k]) if k == "refused" else r[k] for k in keys]
        for k, v in zip(keys, vals):
            tot[k] += v
        t.add_row(reg, *_cells(keys, vals), f"{r['seconds']:.1f}")
    t.add_section()
    t.add_row("total", *_cells(keys, [tot[k] for k in keys]), f"{report['seconds']:.1f}")
    c.print(t)
    rt = Table(title="Reconciliation with projects.csv (differences by cause)")
    rt.add_column("registry")
    rt.add_column("projects compared", justify="right")
    rt.add_column("issued diffs", justify="right")
    rt.add_column("retired diffs", justify="right")
    rt.add_column("causes (projects)")
    rt.add_column("unexplained t", justify="right")
    for reg, rec in report["reconciliation"].items():
        s = rec["summary"]
        rt.add_row(reg, f"{s['projects_compared']:,}", f"{s['issued_differences']:,}",
                   f"{s['retired_differences']:,}",
                   ", ".join(f"{k} {v}" for k, v in s["by_cause"].items()) or "—",
                   f"{s['unexplained_t']:,}")
    c.print(rt)
    for reg, rec in report["reconciliation"].items():
        for o in rec["observations"]:
            c.print(f"[bold]{reg}[/bold] {o['cause']}: {o['detail']}")
    ch = report["chain_check"]
    c.print(f"chain check: {ch['batches_on_chain']:,} batches, {ch['asset_ids']:,} token ids, "
            f"issued {ch['issued_t_on_chain']:,} t, retired {ch['retired_t_on_chain']:,} t, "
            f"cancelled {ch['cancelled_t_on_chain']:,} t on chain; "
            f"projects whose on-chain supply differs from the replay's count: "
            f"{len(ch['projects_mismatching'])}")
    c.print(f"transactions {report['transactions']:,} (setup {report['setup']['transactions']}), "
            f"gas {report['gas_used']:,}, {report['seconds']:.1f} s, "
            f"{report['transactions_per_second']:,.0f} tx/s")


@registry_app.callback()
def _registry() -> None:
    """Offset-registry exports (a callback keeps ``replay`` a sub-command when run alone)."""


@registry_app.command("replay")
def replay_command(
    data: Annotated[Path, typer.Option("--data", help="Directory of the registry exports "
                                       "({ACR,CAR,GOLD,VCS}_issuances.csv, {ACR,CAR}_retirements.csv, "
                                       "projects.csv).")],
    report_json: Annotated[Path, typer.Option("--report-json", help="Write the JSON report here.")],
    registries: Annotated[str, typer.Option("--registries", help="Comma-separated subset.")]
    = "ACR,CAR,GOLD,VCS",
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="Dev chain to use instead of a "
                                                "throwaway Anvil (accounts are funded with "
                                                "anvil_setBalance).")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Keep the started chain's "
                                                  "snapshot and journal here (default: throwaway).")]
    = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N rows of each file.")]
    = None,
    chunk: Annotated[int, typer.Option("--chunk", help="Calls per JSON-RPC batch.")] = DEFAULT_CHUNK,
) -> None:
    """Replay registry exports as projects, batches and retirements; print and write the report."""
    try:
        report = replay(data, registries, report_json, rpc_url, state_dir=data_dir, limit=limit,
                        chunk=chunk)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    print_summary(report)
    console.print(f"report: {report_json}")
