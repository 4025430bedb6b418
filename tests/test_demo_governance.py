"""The demo's regulator is a 2-of-3 council (issue 12): a new data directory ends its bootstrap by
handing the constitution to the council, whose first act — publishing the demo's factor set — waits
the governance delay out in real time (no time travel on the product path); a restart reuses it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.chain.client import ContractRevert
from ledger.contracts.governance import Operation, approve, state
from ledger.crypto.primitives import keccak256
from oracles.system import COUNCIL, COUNCIL_THRESHOLD, GOVERNANCE_DELAY_S, System
from scripts.governance import governance_app
from tests.conftest import free_port


def test_demo_regulator_is_a_two_of_three_council_and_waits_the_delay(tmp_path: Path) -> None:
    assert GOVERNANCE_DELAY_S <= 30
    s = System(tmp_path / "demo", port=free_port(), log=lambda m: None).start()
    try:
        d, a = s.dep, s.accounts
        assert d.participants.constitution() == d.constitution.address
        assert d.council.threshold() == COUNCIL_THRESHOLD == 2
        assert list(d.council.members()) == [a[m] for m in COUNCIL]
        assert d.constitution.getMinDelay() == GOVERNANCE_DELAY_S
        fs = d.factors.factorSet(s.factor_set_id())
        assert fs.publisher == d.constitution.address                   # published by the council's timelock
        assert s.timings["governance"] >= GOVERNANCE_DELAY_S            # the delay was really waited out
        with pytest.raises(ContractRevert) as e:                        # one regulator key alone cannot
            s.client.send([d.anchor.setOracles([a["oracle-1"], a["oracle-2"]], 2, sender=a["regulator"])])
        assert e.value.error == "NotConstitution"
        # a second act through the command line: proposed by one member, approved by another by id
        op = Operation.of([d.assets.functions.pause()], keccak256(b"cli pause"), "pause")
        approve(d, op, a["regulator"])
        oid = "0x" + state(d, op).id.hex()
        cli = CliRunner()
        opts = ["--data-dir", str(s.data_dir), "--rpc-url", s.client.rpc_url]
        r = cli.invoke(governance_app, ["status", *opts])
        assert r.exit_code == 0 and oid in r.output and "1/2" in r.output, r.output
        r = cli.invoke(governance_app, ["approve", oid, "--member", "regulator-b", *opts])
        assert r.exit_code == 0 and "2/2" in r.output, r.output
        r = cli.invoke(governance_app, ["execute", oid, *opts])      # before the delay: refused
        assert r.exit_code != 0 and "TimelockUnexpectedOperationState" in r.output, r.output
        r = cli.invoke(governance_app, ["execute", oid, "--wait", *opts])
        assert r.exit_code == 0, r.output
        assert d.assets.paused()
        r = cli.invoke(governance_app, ["approve", "0x12", "--member", "regulator-b", *opts])
        assert r.exit_code != 0 and "32 bytes" in r.output
    finally:
        s.stop()
    again = System(tmp_path / "demo", port=free_port(), log=lambda m: None).start()   # restart: nothing to redo
    try:
        assert again.factor_set_id() == 1 and "governance" not in again.timings
    finally:
        again.stop()
