"""Registry replay through the contracts (ledger/offsets/replay.py, command scripts/registry_replay.py)
on the real Anvil node; ChainClient.send_all, which it sends with.

Inline exports come from tests/test_registry_exports.py's ``small_dir`` (rows shaped after real
ACR/CAR/GOLD/VCS rows); the CI-sized run replays the first rows of each real file in
../shared/data/offsets_registry (Berkeley Carbon Trading Project, Voluntary Registry Offsets
Database 2021-04, via hyperledger-labs/blockchain-carbon-accounting @ a53185cf) and skips when
that directory is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ledger.chain.client import FastCall
from ledger.contracts._generated.ccer_registry import CCERRegistry
from ledger.offsets import replay as rr
from ledger.offsets.registry_exports import PlannedBatch, load_registry_exports, plan_replay, project_number
from ledger.offsets.replay import ReplayLedger, deploy_replay_ledger, replay
from scripts.registry_replay import registry_app
from tests.test_registry_exports import real_dir, small_dir  # noqa: F401 - fixtures

KEYS = {"projects", "issuance_batches", "issued_t", "retirements", "retired_t", "refused"}


@pytest.fixture(scope="module")
def rl(world: Any, artifacts: Any) -> ReplayLedger:
    """CarbonAssets + CCERRegistry on top of the session world, registry operator and ACR/GOLD
    holdings admitted."""
    return deploy_replay_ledger(world.client, artifacts, ["ACR", "GOLD"], dep=world.dep,
                                regulator=world.acct["regulator"])


def _project(rl: ReplayLedger, pid: str, sender: str | None = None) -> Any:
    return rl.fast("registerProject")(sender or rl.acct["registry"],
                                      project_number(pid), rl.acct["ACR"], b"\x00" * 32,
                                      b"US".ljust(32, b"\x00"), 1_100_000_000, 1_000_000_000,
                                      f"{pid} test", label=f"project {pid}")


def _batch(rl: ReplayLedger, pid: str, label: str, prefix: str = "", start: int = 0,
           end: int = 0, amount: int = 10) -> Any:
    return rl.fast("issueBatch")(rl.acct["registry"], project_number(pid), 2015, amount,
                                 prefix, start, end, label.encode().ljust(32, b"\x00"), label=label)


# -------------------------------------------------------------------------- encoding


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(project=st.integers(1, 2**64 - 1), vintage=st.integers(0, 2**16 - 1),
       amount=st.integers(0, 2**256 - 1), prefix=st.text(max_size=40),
       start=st.integers(0, 2**64 - 1), end=st.integers(0, 2**64 - 1), ref=st.binary(min_size=32, max_size=32),
       holder_text=st.text(max_size=20))
def test_fast_calldata_is_bit_identical_to_web3(rl: ReplayLedger, project: int, vintage: int,
                                                amount: int, prefix: str, start: int, end: int,
                                                ref: bytes, holder_text: str) -> None:
    f = rl.registry.functions
    sender = rl.acct["registry"]
    pairs = [
        (rl.fast("issueBatch")(sender, project, vintage, amount, prefix, start, end, ref),
         f.issueBatch(project, vintage, amount, prefix, start, end, ref)),
        (rl.fast("registerProject")(sender, project, rl.acct["ACR"], ref, ref, start, end,
                                    holder_text),
         f.registerProject(project, rl.acct["ACR"], ref, ref, start, end, holder_text)),
        (rl.fast("cancel")(sender, project, amount, ref), f.cancel(project, amount, ref)),
    ]
    req = (rl.acct["ACR"], amount, amount, prefix, start, end, holder_text, prefix, holder_text)
    pairs.append((rl.fast("retire")(sender, req), f.retire(req)))
    for fast, slow in pairs:
        assert fast.data == slow.data                      # the generated binding (itself checked against web3)
        assert fast.to == rl.registry.address


def test_fast_call_refuses_an_unknown_function(rl: ReplayLedger) -> None:
    with pytest.raises(ValueError):
        FastCall(rl.registry, "mintForFree")


# -------------------------------------------------------------------------- send_all


def test_send_all_sets_aside_preflight_refusals_and_sends_the_rest(chain: Any, rl: ReplayLedger) -> None:
    calls = [_project(rl, "ACR900001"), _project(rl, "ACR900002", sender=chain.acct["outsider"]),
             _batch(rl, "ACR900999", "unknown project"), _project(rl, "ACR900003")]
    out = chain.client.send_all(calls)
    assert set(out.ok) == {"project ACR900001", "project ACR900003"}
    why = dict(out.refused)
    assert why["project ACR900002"].startswith("contract refused: NotActiveParticipant(")
    assert why["unknown project"] == f"contract refused: UnknownProject({project_number('ACR900999')})"


def test_send_all_explains_a_transaction_that_reverts_when_mined(chain: Any, rl: ReplayLedger) -> None:
    chain.client.send_all([_project(rl, "ACR900010")])
    # both pass the pre-flight (same state); the second reverts when mined: same serials
    calls = [_batch(rl, "ACR900010", "first", "T-", 1, 10), _batch(rl, "ACR900010", "second", "T-", 5, 14)]
    out = chain.client.send_all(calls)
    assert list(out.ok) == ["first"]
    ((label, why),) = out.refused
    assert label == "second" and why.startswith("contract refused: SerialsAlreadyIssued(")
    assert why.endswith(", 5, 14, 1, 10)")


def test_send_all_packs_groups_under_the_gas_cap(chain: Any, rl: ReplayLedger) -> None:
    calls = [_project(rl, f"ACR9001{i:02d}") for i in range(12)]
    out = chain.client.send_all(calls, chunk=5, gas_cap=700_000)
    assert len(out.ok) == 12 and not out.refused
    blocks = {r.block_number for r in out.ok.values()}
    assert len(blocks) >= 4  # ≤ 2 registrations fit 700k of gas limits per group


# -------------------------------------------------------------------------- replay


def _report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_replay_inline_exports_end_to_end(anvil: Any, small_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "replay.json"
    rep = replay(small_dir, None, out, rpc_url=anvil.url)
    assert _report(out) == json.loads(json.dumps(rep))
    assert set(rep["registries"]) == {"ACR", "CAR", "GOLD", "VCS"}
    for r in rep["registries"].values():
        assert KEYS <= set(r)
        assert all(set(x) >= {"row", "reason"} for x in r["refused"])
    acr = rep["registries"]["ACR"]
    assert (acr["projects"], acr["issuance_batches"], acr["issued_t"]) == (2, 3, 1_899_382)
    # rows 2 and 5 retired (row 5 split over the two 2003 batches); 3, 4, 6 refused
    assert (acr["retirements"], acr["retirement_certificates"], acr["retired_t"]) == (2, 3, 1_898_042)
    assert [x["row"] for x in acr["refused"]] == [f"ACR_retirements.csv:{n}" for n in (3, 4, 6)]
    assert "SerialsAlreadyRetired" in acr["refused"][0]["reason"]
    car = rep["registries"]["CAR"]
    assert car["cancelled_t"] == 45730 + 275 + 126155 + 384954 + 118141 + 32105
    assert car["cancellations"] == 6 and car["retired_t"] == 31038 + 16639
    gold = rep["registries"]["GOLD"]
    reasons = {x["row"]: x["reason"] for x in gold["refused"]}
    assert reasons["GOLD_issuances.csv:4"].startswith("PER")
    assert reasons["GOLD_issuances.csv:7"].startswith("SerialsAlreadyIssued")
    assert "holds 8460 credits" in reasons["GOLD_issuances.csv:9"]
    assert gold["issued_t"] == 161285 + 500 + 500 + 132
    assert rep["registries"]["VCS"]["issued_t"] == 45730 + 12630
    assert rep["chain_check"]["projects_mismatching"] == []
    assert rep["chain_check"]["cancelled_t_on_chain"] == car["cancelled_t"]
    assert rep["transactions"] > 0 and rep["gas_used"] > 0 and rep["seconds"] > 0
    rec = rep["reconciliation"]
    assert rec["CAR"]["summary"]["by_cause"]["car_canceled_for_arb"] == 1
    assert any(o["cause"] == "double_counted_across_registries" for o in rec["CAR"]["observations"])


def test_replay_writes_the_export_text_into_certificates(anvil: Any, small_dir: Path, tmp_path: Path,  # noqa: F811
                                                         artifacts: Any, world: Any) -> None:
    rep = replay(small_dir, "ACR", tmp_path / "r.json", rpc_url=anvil.url)
    reg = CCERRegistry(world.client, rep["contracts"]["CCERRegistry"])
    cert = reg.certificate(1).cert
    # ACR batches are issued without serials: retired by amount on chain (v2: no invented range),
    # the export's serials kept in the certificate's text
    assert (cert.amount, cert.serialStart, cert.serialEnd, cert.serialPrefix) == (62, 0, 0, bytes(32))
    assert (cert.beneficiary, cert.purpose) == ("Sustain:Green", "Environmental Benefit")
    assert "Additional 2015 Retirement" in cert.reason and "ACR_retirements.csv:2" in cert.reason
    assert "ACR-US-102-2003-274-120158095 to 120158156" in cert.reason
    proj = reg.projectDates(project_number("ACR102"))
    assert proj.registered and proj.owner == cert.holder


def test_replay_lists_what_the_contract_refuses(anvil: Any, small_dir: Path, tmp_path: Path,  # noqa: F811
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A row the Python plan lets through (here: forced) is refused by the contract and listed
    with the decoded custom error; the rest of its batch still lands."""
    real_plan = rr.plan_replay

    def leaky(exports: Any, registry: str) -> Any:
        plan = real_plan(exports, registry)
        if registry == "GOLD":  # smuggle the refused repeat of GS3607's serials back in
            (dup,) = [r for r in exports.issuances["GOLD"].rows if r.row == 7]
            plan.batches.append(PlannedBatch(len(plan.batches), dup))
            plan.refused = [r for r in plan.refused if r.row != 7]
        return plan

    monkeypatch.setattr(rr, "plan_replay", leaky)
    rep = replay(small_dir, "GOLD", tmp_path / "r.json", rpc_url=anvil.url)
    gold = rep["registries"]["GOLD"]
    reasons = {x["row"]: x["reason"] for x in gold["refused"]}
    assert reasons["GOLD_issuances.csv:7"].startswith("contract refused: SerialsAlreadyIssued(")
    assert gold["refused_by_contract"] == 1
    assert gold["issued_t"] == 161285 + 500 + 500 + 132
    diff = {d["project"]: d for d in rep["reconciliation"]["GOLD"]["differences"]}
    assert diff["GS3607"]["replayed_t"] == 132 and diff["GS3607"]["causes"][0]["cause"] == "refused_rows"


def test_replay_starts_a_throwaway_anvil_and_can_keep_its_state(small_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    rep = replay(small_dir, "VCS", tmp_path / "a.json")
    assert rep["rpc_url"] == "throwaway Anvil" and rep["registries"]["VCS"]["issuance_batches"] == 2
    kept = tmp_path / "state"
    replay(small_dir, "VCS", None, state_dir=kept)
    assert (kept / "anvil" / "chain-state.json.gz").is_file()
    assert (kept / "replay-journal.sqlite").is_file()


def test_cli_replay_prints_the_summary_and_writes_json(anvil: Any, small_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "cli.json"
    res = CliRunner().invoke(registry_app, ["replay", "--data", str(small_dir), "--registries", "ACR,VCS",
                                            "--report-json", str(out), "--rpc-url", anvil.url])
    assert res.exit_code == 0, res.output
    assert "Registry replay" in res.output and "Reconciliation" in res.output
    assert set(_report(out)["registries"]) == {"ACR", "VCS"}
    bad = CliRunner().invoke(registry_app, ["replay", "--data", str(small_dir), "--registries", "ACR,CDM",
                                            "--report-json", str(out), "--rpc-url", anvil.url])
    assert bad.exit_code != 0 and "unknown registry" in bad.output


def test_cli_replay_refuses_a_directory_without_exports(anvil: Any, tmp_path: Path) -> None:
    res = CliRunner().invoke(registry_app, ["replay", "--data", str(tmp_path), "--report-json",
                                            str(tmp_path / "x.json"), "--rpc-url", anvil.url])
    # the message sits in a rich box wrapped at 80 columns: a long tmp_path moves the line break
    assert res.exit_code != 0 and "does not exist" in " ".join(res.output.replace("│", " ").split())


ROWS = 40  # CI slice: first rows of each real file


def test_replay_slice_of_the_real_exports(anvil: Any, real_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    rep = replay(real_dir, "ACR,CAR,GOLD,VCS", tmp_path / "slice.json", rpc_url=anvil.url,
                 limit=ROWS)
    ex = load_registry_exports(real_dir, limit=ROWS)
    for reg in ("ACR", "CAR", "GOLD", "VCS"):
        plan = plan_replay(ex, reg)
        got = rep["registries"][reg]
        assert got["issued_t"] == sum(b.issuance.quantity for b in plan.batches)
        assert got["issuance_batches"] == len(plan.batches)
        assert got["retired_t"] == sum(p.amount for p in plan.retirements)
        assert got["projects"] == len(plan.projects)
        assert len(got["refused"]) == len(ex.refused(reg)) + len(plan.refused)
        assert got["refused_by_contract"] == 0
    assert rep["registries"]["ACR"]["retirements"] == ROWS
    assert rep["chain_check"]["projects_mismatching"] == []
    assert rep["rows_limit"] == ROWS
