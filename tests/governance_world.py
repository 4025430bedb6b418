"""The test world put under governance: a 2-of-3 regulator council.

:func:`govern` binds two more regulator accounts (``regulator-b``, ``regulator-c``) to the
regulator organisation beside ``regulator``; with them the three sign as a council.
"""

from __future__ import annotations

from ledger.chain.client import Call
from ledger.crypto.primitives import new_private_key
from ledger.identifiers import org_id
from tests.conftest import USCC, World

COUNCIL = ("regulator", "regulator-b", "regulator-c")


def govern(w: World) -> World:
    """Bind ``regulator-b`` and ``regulator-c`` to the regulator organisation (on ``w``, in place)."""
    for name in COUNCIL[1:]:
        w.keys[name] = new_private_key()
        w.acct[name] = w.client.add_account(w.keys[name])
    w.client.fund_on_dev_chain([w.acct[n] for n in COUNCIL[1:]])
    pr = w.dep.participants.functions
    w.client.send([Call.of(pr.addAccount(org_id(USCC["regulator"]), w.acct[n]), w.acct["regulator"]) for n in COUNCIL[1:]])
    return w
