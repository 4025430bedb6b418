"""The test world put under governance: a 2-of-3 regulator council behind a Constitution timelock.

:func:`govern_world` binds two more regulator accounts (``regulator-b``, ``regulator-c``) to the
regulator organisation beside ``regulator`` and hands the constitution from the deployer
(``regulator``) to the council (k = 2, delay :data:`DELAY_S`). :func:`travel` waits the delay out
with the embedded node's time travel (tests only; the product path waits in real time).
"""

from __future__ import annotations

import copy
import dataclasses

from ledger.chain.anvil import set_balances
from ledger.contracts.compiler import Artifact
from ledger.contracts.deployment import Deployment
from ledger.contracts.governance import Operation, establish_governance
from ledger.crypto.primitives import new_private_key
from tests.conftest import World

COUNCIL = ("regulator", "regulator-b", "regulator-c")
#: Governance delay of the test council, seconds.
DELAY_S = 60


def govern_world(w: World, artifacts: dict[str, Artifact], delay_s: int = DELAY_S) -> World:
    """A copy of ``w`` whose constitution is the 2-of-3 council of :data:`COUNCIL` (on ``w``'s chain:
    use on a reverted ``chain``)."""
    keys, acct = dict(w.keys), dict(w.acct)
    for name in COUNCIL[1:]:
        keys[name] = new_private_key()
        acct[name] = w.client.add_account(keys[name])
    set_balances(w.client, [acct[n] for n in COUNCIL[1:]])
    manifest = establish_governance(w.client, artifacts, copy.deepcopy(w.dep.manifest), acct["regulator"],
                                    [acct[n] for n in COUNCIL], 2, delay_s)
    return dataclasses.replace(w, dep=Deployment(w.client, manifest), keys=keys, acct=acct)


def travel(w: World, seconds: int) -> None:
    """Advance the embedded node's clock by ``seconds`` and seal a block (tests only)."""
    w.client.rpc("evm_increaseTime", hex(seconds))
    w.client.rpc("evm_mine")


def carry(w: World, op: Operation, approvers: tuple[str, ...] = COUNCIL[:2], executor: str = "outsider") -> None:
    """Approve ``op`` by ``approvers``, travel past the delay, execute it from ``executor``."""
    for a in approvers:
        w.client.send([w.dep.council.approve(*op.args(), sender=w.acct[a])])
    travel(w, w.dep.constitution.getMinDelay() + 1)
    w.client.send([w.dep.constitution.executeBatch(*op.args(), sender=w.acct[executor])])
