"""Clique genesis, node keys and enodes of the consortium network.

The genesis (``clique_genesis``) is what geth v1.13.15 needs to seal proof-of-authority blocks
from block 1 and run the ledger's ``paris`` bytecode unchanged:

* every fork from Homestead through London (and the difficulty-bomb delays Arrow/Gray Glacier) at
  block 0; **no** ``terminalTotalDifficulty`` and **no** ``shanghaiTime``: Clique refuses Shanghai
  and stops sealing at the merge. The contracts are compiled for ``paris`` (no PUSH0, no mcopy) and
  none reads ``prevrandao``, so the London EVM runs them unchanged (DESIGN.md §3);
* ``clique``: ``period`` (seconds between blocks; 0 = a block only when transactions wait) and
  ``epoch`` (blocks between checkpoints that reset pending votes; 30000 is geth's and the old
  public Clique testnets' value);
* ``extraData`` = 32 zero bytes of vanity ‖ the sealers' 20-byte addresses in ascending order ‖
  65 zero bytes where a block's seal goes (EIP-225);
* ``baseFeePerGas`` 0: the London base fee starts at zero (free gas, as permissioned networks run)
  and only rises while blocks are fuller than half the gas limit; the nodes take transactions
  paying a tip of at least 1 wei (``--miner.gasprice 1``, geth's minimum pool price);
* ``alloc``: the organisations' ledger accounts funded (sealer keys get nothing: a sealer key has
  no role and no balance in the ledger).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import coincurve

from ledger.crypto.primitives import address_bytes, to_checksum

#: Forks scheduled at block 0 (geth's ChainConfig JSON names), Homestead through Gray Glacier (London era).
LONDON_FORKS = ("homesteadBlock", "eip150Block", "eip155Block", "eip158Block", "byzantiumBlock", "constantinopleBlock",
                "petersburgBlock", "istanbulBlock", "muirGlacierBlock", "berlinBlock", "londonBlock",
                "arrowGlacierBlock", "grayGlacierBlock")
#: Chain id of the consortium network unless configured (any id no public chain uses; production
#: ids come from configuration, DESIGN.md §3). Differs from the embedded node's 31337 so that a
#: signed transaction of one can never be replayed on the other.
DEFAULT_CHAIN_ID = 20_071
#: Seconds between blocks.
DEFAULT_PERIOD_S = 1
#: Clique epoch (blocks between checkpoints): geth's default, as on the old Clique testnets (EIP-225).
DEFAULT_EPOCH = 30_000
#: Block gas limit: the embedded node's (ledger.chain.anvil.DEFAULT_GAS_LIMIT), so that the same
#: batches fit on both engines.
DEFAULT_GAS_LIMIT = 60_000_000
#: Genesis balance of every organisation account, wei (10^6 ether, as the embedded node's funding).
DEFAULT_BALANCE_WEI = 10**24
#: geth's minimum block gas limit (params.MinGasLimit).
MIN_GAS_LIMIT = 5_000
#: The consortium organisations, one node each (issue 11): the regulator, the exchange and two
#: verifier organisations; a larger network adds verifier organisations.
ORGANISATIONS = ("regulator", "exchange", "verifier-1", "verifier-2")
#: The most nodes one network may have (ports, processes and memory of one machine).
MAX_NODES = 16


class GenesisError(ValueError):
    """A genesis parameter is out of range (the message names it)."""


def organisation_names(nodes: int) -> list[str]:
    """The organisation running each of ``nodes`` nodes: :data:`ORGANISATIONS`, then
    ``verifier-3``, ``verifier-4``, …

    Raises:
        GenesisError: ``nodes`` is not in 1..:data:`MAX_NODES`.
    """
    if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= MAX_NODES:
        raise GenesisError(f"nodes must be an integer in 1..{MAX_NODES}, got {nodes!r}")
    names = list(ORGANISATIONS[:nodes])
    names += [f"verifier-{i}" for i in range(3, nodes - len(ORGANISATIONS) + 3)]
    return names


def check_period(period: int) -> int:
    """``period`` if it is a valid Clique period (an integer of seconds ≥ 0; 0 = a block only when
    transactions wait).

    Raises:
        GenesisError: otherwise.
    """
    if isinstance(period, bool) or not isinstance(period, int) or not 0 <= period < 2**63:
        raise GenesisError(f"period must be an integer ≥ 0 seconds, got {period!r}")
    return period


def clique_extra_data(sealers: Sequence[str]) -> str:
    """EIP-225 genesis ``extraData``: 32-byte vanity (zeros) ‖ sealer addresses ascending ‖ 65 zero bytes.

    Raises:
        GenesisError: no sealer, a repeated sealer, or an address that is not 20 bytes of hex.
    """
    if not sealers:
        raise GenesisError("a Clique network needs at least one sealer")
    try:
        raw = sorted(address_bytes(a) for a in sealers)
    except ValueError as exc:
        raise GenesisError(f"bad sealer address: {exc}") from None
    if len(set(raw)) != len(raw):
        raise GenesisError("a sealer is listed twice")
    return "0x" + (bytes(32) + b"".join(raw) + bytes(65)).hex()


def clique_genesis(chain_id: int, sealers: Sequence[str], alloc: Mapping[str, int], *, period: int = DEFAULT_PERIOD_S,
                   epoch: int = DEFAULT_EPOCH, gas_limit: int = DEFAULT_GAS_LIMIT) -> dict[str, Any]:
    """The genesis JSON (a dict for ``geth init``) of a Clique network (module docstring).

    Args:
        chain_id: EIP-155 chain id, 1..2^63-1 (also the devp2p network id).
        sealers: addresses allowed to seal from block 1.
        alloc: address → balance in wei (≥ 0).
        period: seconds between blocks, ≥ 0 (0: blocks only when transactions wait).
        epoch: blocks between Clique checkpoints, ≥ 1.
        gas_limit: block gas limit, ≥ 5000 (geth's minimum) and < 2^63.

    Raises:
        GenesisError: any parameter out of range.
    """
    for name, value, lo in (("chain id", chain_id, 1), ("period", period, 0), ("epoch", epoch, 1),
                            ("gas limit", gas_limit, MIN_GAS_LIMIT)):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value < 2**63:
            raise GenesisError(f"{name} must be an integer in {lo}..2^63-1, got {value!r}")
    balances: dict[str, dict[str, str]] = {}
    for addr, wei in alloc.items():
        if isinstance(wei, bool) or not isinstance(wei, int) or wei < 0:
            raise GenesisError(f"balance of {addr} must be a non-negative integer of wei, got {wei!r}")
        try:
            balances[to_checksum(addr)[2:].lower()] = {"balance": hex(wei)}
        except ValueError as exc:
            raise GenesisError(f"bad account address {addr!r}: {exc}") from None
    config: dict[str, Any] = {"chainId": chain_id, **{f: 0 for f in LONDON_FORKS},
                              "clique": {"period": period, "epoch": epoch}}
    return {"config": config, "nonce": "0x0", "timestamp": "0x0", "extraData": clique_extra_data(sealers),
            "gasLimit": hex(gas_limit), "difficulty": "0x1", "baseFeePerGas": "0x0",
            "mixHash": "0x" + "00" * 32, "coinbase": "0x" + "00" * 20, "alloc": balances}


def enode_id(node_key: bytes) -> str:
    """The devp2p node id of a 32-byte secp256k1 node key: the 64-byte uncompressed public key, hex."""
    return coincurve.PrivateKey(node_key).public_key.format(compressed=False)[1:].hex()


def enode_url(node_id: str, port: int, host: str = "127.0.0.1") -> str:
    """``enode://<id>@<host>:<port>`` (TCP only: the network runs with ``--nodiscover``)."""
    return f"enode://{node_id}@{host}:{port}"
