"""Registry replay: load real offset-registry exports through the contracts
(``carbonledger registry replay`` is its command-line wrapper, scripts/registry_replay.py).

The exports in ``--data`` (ACR, CAR, GOLD, VCS issuances; ACR, CAR retirements; projects.csv —
see :mod:`ledger.offsets.registry_exports`) are replayed as CCER-like projects, issuance batches and
retirements through ``CCERRegistry`` and ``CarbonAssets`` on a throwaway Anvil chain (or the
dev chain at ``--rpc-url``), in bulk: hundreds of signed transactions per JSON-RPC batch.

Who acts on the ledger
    * one regulator (deploys, admits, grants CarbonAssets' CCER_ISSUER_ROLE to CCERRegistry);
    * one registry operator (REGISTRY_ROLE) who registers projects and issues batches (each
      holder retires and cancels its own units: contracts v2 consent);
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
batch is not lost to one bad row), and anything the contracts still refuse
(:meth:`ledger.chain.client.ChainClient.send_all`: a pre-flight revert removes that call from its
batch and the rest is sent again; a transaction that reverts when mined is explained by re-running
it as ``eth_call``). Each becomes ``{"row", "reason"}`` with the
decoded custom error.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from ledger.accounting.assets import ccer_id
from ledger.chain.anvil import AnvilNode, anvil_binary, free_port, set_balances
from ledger.chain.client import Call, ChainClient, FastCall, TxResult
from ledger.contracts._generated.ccer_registry import BatchIssued
from ledger.contracts.compiler import REPO_ROOT, Artifact, compile_contracts
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
    project_id_of,
    project_number,
    reconcile,
)
from ledger.offsets.serials import SerialBook
from ledger.store.db import make_engine, sqlite_url

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



class ReplayProgress(Protocol):
    """Where :func:`replay` reports its progress (a progress bar a registry; scripts/registry_replay.py)."""

    def task(self, registry: str, total: int) -> None:
        """Registry ``registry`` has ``total`` steps (projects, batches, retirements, cancellations)."""

    def describe(self, registry: str, text: str) -> None:
        """What the registry's replay is doing now."""

    def advance(self, registry: str, n: int) -> None:
        """``n`` more steps of the registry are done."""


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
        """Fast encoder of CCERRegistry function ``name`` (:class:`ledger.chain.client.FastCall`)."""
        if name not in self._fast:
            self._fast[name] = FastCall(self.registry, name)
        return self._fast[name]


def _contract(client: ChainClient, art: Artifact, address: str) -> Any:
    return BINDINGS[art.name](client, address)


def deploy_replay_ledger(client: ChainClient, artifacts: dict[str, Artifact],
                         registries: Sequence[str], *, dep: Deployment | None = None,
                         regulator: str | None = None) -> ReplayLedger:
    """The replay's contracts and accounts: without ``dep``, one full deployment
    (:func:`ledger.contracts.deployment.deploy_all`, whose CarbonAssets and CCERRegistry are used);
    with ``dep`` and its ``regulator`` account, a fresh CarbonAssets and CCERRegistry beside that
    deployment (a replay of its own on a shared chain). Then the registry operator and one holding
    organisation per source registry are admitted (new keys, funded on the dev chain).

    Raises:
        ContractRevert: a deployment or admission step reverted (e.g. an organisation of the
            same USCC is already admitted in ``dep``).
    """
    names = ["registry", *registries] + ([] if dep else ["regulator"])
    acct = {n: client.add_account(new_private_key()) for n in names}
    set_balances(client, acct.values())
    if dep is None:
        reg = acct["regulator"]
        manifest = deploy_all(client, artifacts, reg, org_id(REPLAY_USCC["regulator"]),
                              uscc_bytes32(REPLAY_USCC["regulator"]))
        dep = Deployment(client, manifest)
        addresses = {n: i["address"] for n, i in manifest["contracts"].items()}
    else:
        if regulator is None:
            raise ValueError("give the regulator account of the existing deployment")
        reg = acct["regulator"] = regulator
        addresses = {n: i["address"] for n, i in dep.manifest["contracts"].items()}
        addresses["CarbonAssets"] = deploy_assets(client, artifacts, reg, dep.participants.address)
        addresses |= deploy_market(client, artifacts, reg, dep.participants.address, addresses["CarbonAssets"])
    assets = _contract(client, artifacts["CarbonAssets"], addresses["CarbonAssets"])
    ccer = _contract(client, artifacts["CCERRegistry"], addresses["CCERRegistry"])
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
    return ReplayLedger(client, dep, assets, ccer, acct, addresses)


def _bytes32_text(text: str) -> bytes:
    """keccak256 of a long or non-ASCII text, the text right-padded when it fits 32 bytes."""
    raw = text.strip().encode()
    if not raw:
        return b"\x00" * 32
    return raw.ljust(32, b"\x00") if len(raw) <= 32 else keccak256(raw)


def _utc_seconds(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def _project_call(rl: ReplayLedger, reg: str, pid: str, batches: list[PlannedBatch],
                  totals: ProjectTotals | None) -> Call:
    first = min(b.issuance.issued_on for b in batches)
    vintage = min(b.issuance.vintage for b in batches)
    registered = totals.registered_on if totals and totals.registered_on else first
    start_year = totals.first_year if totals and totals.first_year else vintage
    country = (totals.country if totals and totals.country else batches[0].issuance.country)
    name = batches[0].issuance.project_name or (totals.name if totals else "") or pid
    return rl.fast("registerProject")(
        rl.acct["registry"], project_number(pid), rl.acct[reg],
        _bytes32_text(totals.methodology if totals else ""), _bytes32_text(country),
        _utc_seconds(registered), _utc_seconds(date(max(start_year, 1970), 1, 1)), f"{pid} {name}",
        label=f"project {pid}")


def _batch_label(b: PlannedBatch) -> str:
    return f"{b.issuance.file}:{b.issuance.row}"


def _batch_call(rl: ReplayLedger, b: PlannedBatch) -> Call:
    i = b.issuance
    s = i.serial
    ref = _batch_label(b).encode()[:32].ljust(32, b"\x00")
    return rl.fast("issueBatch")(
        rl.acct["registry"], project_number(i.project_id), i.vintage,
        i.quantity, b.serial_prefix, s.start if s else 0, s.end if s else 0, ref, label=_batch_label(b))


def _retire_label(p: PlannedRetirement) -> str:
    r = p.retirement
    return f"{r.file}:{r.row}" + (f"#{p.part}" if p.parts > 1 else "")


def _retire_call(rl: ReplayLedger, reg: str, p: PlannedRetirement, batch_id: int, on_chain_serials: bool = True) -> Call:
    r = p.retirement
    details = "; ".join(x for x in (
        r.details, f"{r.file}:{r.row}", f"serials {r.serial}",
        f"effective {r.effective_on.isoformat()}",
        f"part {p.part} of {p.parts}" if p.parts > 1 else "") if x)
    prefix, start, end = (p.prefix, p.start, p.end) if on_chain_serials else ("", 0, 0)
    req = (rl.acct[reg], batch_id, p.amount, prefix, start, end,
           r.account_holder or f"(no account holder in {r.file})",
           r.reason or f"(no retirement reason in {r.file})", details)
    # the holder (the registry's replay account) retires its own units: v2 consent
    return rl.fast("retire")(rl.acct[reg], req, label=_retire_label(p))


def _batch_id(rl: ReplayLedger, result: TxResult) -> int:
    issued = rl.registry.decode_events(result, BatchIssued)
    if not issued:
        raise RuntimeError(f"{result.label}: no BatchIssued event in the receipt")
    return int(issued[0].batchId)


# -------------------------------------------------------------------------------- replay


def _refusal_json(r: Refusal) -> dict[str, Any]:
    return r.as_json()


def replay(data_dir: Path | str, registries: Sequence[str] | str | None, report_json: Path | str | None,
           rpc_url: str | None = None, *, state_dir: Path | None = None, limit: int | None = None,
           chunk: int = DEFAULT_CHUNK, progress: ReplayProgress | None = None) -> dict[str, Any]:
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
        progress: where to report progress (None: nowhere).

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
            node = AnvilNode(anvil_binary(REPO_ROOT), home / "anvil", port=free_port())
            node.start()
            url = node.url
        else:
            url = rpc_url
        client = ChainClient(url, make_engine(sqlite_url(home / "replay-journal.sqlite")))
        artifacts = compile_contracts(REPO_ROOT, REPO_ROOT / ".carbonledger" / "build")
        for a in artifacts.values():
            client.register_errors(a.abi)
        report = _run(client, artifacts, exports, regs, chunk, progress)
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
         regs: Sequence[str], chunk: int, progress: ReplayProgress | None) -> dict[str, Any]:
    tx0, gas0 = client.tx_count, client.gas_used
    rl = deploy_replay_ledger(client, artifacts, regs)
    setup = {"transactions": client.tx_count - tx0, "gas_used": client.gas_used - gas0}
    projects = {p.project_id: p for p in exports.projects.rows}
    plans = {r: plan_replay(exports, r) for r in regs}
    out: dict[str, Any] = {"registries": {}}
    contract_refused: list[Refusal] = []
    replayed: dict[str, dict[str, Counter[str]]] = {}
    for r in regs:
        p = plans[r]
        if progress is not None:
            progress.task(r, len(p.projects) + len(p.batches) + len(p.retirements) + len(p.cancellations))
    for r in regs:
        t_reg = time.monotonic()
        tx_r, gas_r = client.tx_count, client.gas_used
        plan = plans[r]
        adv: Callable[[int], None] = (lambda n, _r=r: progress.advance(_r, n)) if progress else (lambda n: None)
        say: Callable[[str], None] = (lambda s, _r=r: progress.describe(_r, s)) if progress else (lambda s: None)
        by_project: dict[str, list[PlannedBatch]] = {}
        for b in plan.batches:
            by_project.setdefault(b.issuance.project_id, []).append(b)
        # 1. projects
        say(f"{r} projects")
        sent_p = client.send_all([_project_call(rl, r, pid, by_project[pid], projects.get(pid))
                                   for pid in plan.projects], chunk=chunk, advance=adv)
        refused_projects = {label.removeprefix("project "): why for label, why in sent_p.refused}
        # 2. batches
        say(f"{r} issuance batches")
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
            calls.append(_batch_call(rl, b))
            batch_of[_batch_label(b)] = b
        sent_b = client.send_all(calls, chunk=chunk, advance=adv)
        batch_ids: dict[int, int] = {}
        issued: Counter[str] = Counter()
        for label, res in sent_b.ok.items():
            b = batch_of[label]
            batch_ids[b.index] = _batch_id(rl, res)
            issued[b.issuance.project_id] += b.issuance.quantity
        for label, why in sent_b.refused:
            i = batch_of[label].issuance
            refused_here.append(Refusal(r, i.file, i.row, why, i.project_id, i.quantity))
        # 3. retirements (all issuance is mined by now)
        say(f"{r} retirements")
        calls, part_of = [], {}
        planned = {b.index: b for b in plan.batches}
        export_serials = SerialBook()
        for p in plan.retirements:
            if p.batch_index not in batch_ids:
                x = p.retirement
                refused_here.append(Refusal(r, x.file, x.row, "its issuance batch was not "
                                            "issued (see the batch's refusal)", x.project_id,
                                            p.amount, "retirement"))
                adv(1)
                continue
            unserialled = planned[p.batch_index].serial_prefix == ""
            if unserialled and p.prefix:
                # v2: a batch issued without serials is retired by amount (no invented range on
                # chain); the export's range is checked here against the rows before it and kept
                # in the certificate's reason text
                hit = export_serials.overlapping("retired", p.prefix, p.start, p.end)
                if hit is not None:
                    x = p.retirement
                    refused_here.append(Refusal(r, x.file, x.row, f"SerialsAlreadyRetired: {p.prefix}{p.start} to {p.end} "
                                                f"overlaps {p.prefix}{hit[0]} to {hit[1]} retired by an earlier row (export "
                                                "serials, checked off-chain: the batch has no on-chain serials)",
                                                x.project_id, p.amount, "retirement"))
                    adv(1)
                    continue
                export_serials.record("retired", p.prefix, p.start, p.end)
            calls.append(_retire_call(rl, r, p, batch_ids[p.batch_index], on_chain_serials=not unserialled))
            part_of[_retire_label(p)] = p
        sent_r = client.send_all(calls, chunk=chunk, advance=adv)
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
        say(f"{r} cancellations")
        calls, cancel_of = [], {}
        for c in plan.cancellations:
            label = f"{c.issuance.file}:{c.issuance.row} cancel {c.destination}" + (
                f" (part {c.part} of {c.parts})" if c.parts > 1 else "")
            if c.batch_index not in batch_ids:
                refused_here.append(Refusal(r, c.issuance.file, c.issuance.row, f"cancellation to {c.destination}: its "
                                            "issuance batch was not issued", c.issuance.project_id, c.amount,
                                            "cancellation"))
                adv(1)
                continue
            cancel_of[label] = c
            # the holder (the registry's replay account) cancels its own units: v2 consent;
            # one batch a call (the plan splits a row over the batches of its project and vintage)
            calls.append(rl.fast("cancel")(rl.acct[r], batch_ids[c.batch_index], c.amount,
                                           c.destination.encode().ljust(32, b"\x00"), label=label))
        sent_c = client.send_all(calls, chunk=chunk, advance=adv)
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
        say(f"{r} done")
    check = _chain_check(rl, replayed)
    plan_refused = [x for r in regs for x in plans[r].refused]
    rec = reconcile(exports, [*plan_refused, *contract_refused], replayed)
    out["reconciliation"] = {r: rec.as_json(r) for r in regs}
    out["chain_check"] = check
    out["setup"] = setup
    out["transactions"] = client.tx_count - tx0
    out["gas_used"] = client.gas_used - gas0
    out["contracts"] = rl.addresses
    out["project_numbers"] = "registry code × 10^9 + export number (ACR 1, CAR 2, GOLD 3, VCS 4)"
    return out


def _chain_check(rl: ReplayLedger, replayed: dict[str, dict[str, Counter[str]]]
                 ) -> dict[str, Any]:
    """Read every replayed project's issued/retired supply back from CarbonAssets (batched
    ``eth_call`` of ``supplyOf``) and compare with what the replay counted as mined."""
    client = rl.client
    # token ids per project from the registry's batches
    n = rl.registry.batchCount()
    ids = {(b.project, b.vintage) for b in client.call_many([rl.registry.functions.batch(i) for i in range(1, n + 1)])}
    pairs = sorted(ids)
    supplies = client.call_many([rl.assets.functions.supplyOf(ccer_id(v, p)) for p, v in pairs])
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


