"""The production recipe: a Hyperledger Besu QBFT network for the ledger (``carbonledger network
besu-config``). Besu itself is not installed here (it is a Java distribution, not on PyPI, npm or
Debian); these files are written and checked against Besu's documentation, not run.

What :func:`write_besu_network` writes into ``out``:

* ``genesis.json``: ``config.qbft`` (``blockperiodseconds``, ``epochlength`` 30000,
  ``requesttimeoutseconds`` 10 — the values of Besu's QBFT example genesis), ``zeroBaseFee: true``
  (free gas: nodes run with ``--min-gas-price=0``), the EVM milestones matching the compiled
  contracts (:func:`besu_milestones`: ``paris`` bytecode → every fork through Gray Glacier at block 0,
  London's EVM; no ``shanghaiTime``, since the bytecode has no PUSH0 and reads no ``prevrandao``),
  the chain id of the ledger's deployment manifest (its EIP-712 domains and config digest bind it),
  the BFT ``mixHash`` Besu requires, and ``extraData`` (:func:`qbft_extra_data`);
* ``validator-<i>/key`` (0x-hex private key, mode 0600) and ``key.pub``: each validator's node
  key — in QBFT the validator address *is* the address of the node key;
* ``permissions_config.toml``: ``nodes-allowlist`` = the validators' enodes plus the nodes that
  Active organisations registered in ParticipantRegistry, ``accounts-allowlist`` = the accounts of
  the Active organisations (ParticipantRegistry ``accountsOf``); Besu checks the first for every
  inbound and outbound peer connection and the second for every transaction a node accepts;
* ``RUNBOOK.md``: starting the validators, backups of the oracle and API stores, key rotation, and
  what every consortium node can read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rlp

from ledger.contracts.deployment import Deployment
from ledger.crypto.primitives import Signer, address_bytes, new_private_key, to_checksum
from ledger.network.genesis import DEFAULT_EPOCH, DEFAULT_GAS_LIMIT, LONDON_FORKS, enode_id, enode_url
from ledger.network.permissioning import ACTIVE, admitted_nodes

#: ``mixHash`` of every IBFT 2.0 / QBFT block (ASCII "ctical byzantine fault tolerance"), as in Besu's examples.
BFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
#: Seconds a QBFT round may take before a round change (Besu's QBFT example genesis).
REQUEST_TIMEOUT_S = 10
#: Besu's default P2P port; validator i listens on P2P_PORT + i.
P2P_PORT = 30303
#: Besu's default HTTP JSON-RPC port; validator i serves on RPC_PORT + i.
RPC_PORT = 8545
#: EVM versions of solc → Besu genesis milestones beyond London (block- or time-based), for the
#: versions Besu's QBFT networks can run without the merge.
_MILESTONES: dict[str, dict[str, int]] = {
    "london": {},
    "paris": {},                                    # London's EVM; the bytecode reads no prevrandao
    "shanghai": {"shanghaiTime": 0},
    "cancun": {"shanghaiTime": 0, "cancunTime": 0},
}


class BesuConfigError(ValueError):
    """A parameter of the Besu network is invalid (the message says which)."""


def besu_milestones(evm_version: str) -> dict[str, int]:
    """Genesis ``config`` milestones for bytecode compiled with solc's ``evmVersion``: every fork
    through Gray Glacier at block 0 (Besu's names, e.g. ``londonBlock``), plus the time-based
    forks the bytecode needs.

    Raises:
        BesuConfigError: an EVM version older than London or unknown.
    """
    if evm_version not in _MILESTONES:
        raise BesuConfigError(f"no Besu milestone for evmVersion {evm_version!r}; known: {', '.join(_MILESTONES)}")
    return {**{f: 0 for f in LONDON_FORKS}, **_MILESTONES[evm_version]}


def qbft_extra_data(validators: Sequence[str]) -> str:
    """QBFT genesis ``extraData`` (Besu, "block header validator selection"):
    ``RLP([32-byte vanity, [validator addresses], vote, round, seals])`` with a zero vanity, the
    validators in the order given, no vote (empty list), round 0 (RLP of the integer 0, an empty
    string) and no seals (empty list).

    Raises:
        BesuConfigError: no validator, a repeated one, or a malformed address.
    """
    if not validators:
        raise BesuConfigError("a QBFT network needs at least one validator")
    try:
        raw = [address_bytes(v) for v in validators]
    except ValueError as exc:
        raise BesuConfigError(f"bad validator address: {exc}") from None
    if len(set(raw)) != len(raw):
        raise BesuConfigError("a validator is listed twice")
    return "0x" + rlp.encode([bytes(32), raw, [], 0, []]).hex()


def decode_qbft_extra_data(extra: str) -> dict[str, Any]:
    """The fields of a QBFT ``extraData``: ``vanity`` (bytes), ``validators`` (checksummed
    addresses), ``vote`` (list), ``round`` (int), ``seals`` (list).

    Raises:
        BesuConfigError: not an RLP list of five items.
    """
    try:
        items = rlp.decode(bytes.fromhex(extra.removeprefix("0x")))
    except (ValueError, rlp.DecodingError) as exc:
        raise BesuConfigError(f"extraData is not RLP: {exc}") from None
    if not isinstance(items, list) or len(items) != 5:
        raise BesuConfigError("QBFT extraData is an RLP list of 5 items")
    vanity, validators, vote, round_, seals = items
    return {"vanity": vanity, "validators": [to_checksum(v) for v in validators], "vote": vote,
            "round": int.from_bytes(round_, "big"), "seals": seals}


@dataclass(frozen=True)
class BesuValidator:
    """A generated validator: its node key's address (the QBFT validator address) and enode."""

    name: str
    address: str
    enode: str


@dataclass(frozen=True)
class BesuNetwork:
    """What :func:`write_besu_network` wrote."""

    out: Path
    chain_id: int
    validators: list[BesuValidator]
    nodes_allowlist: list[str]
    accounts_allowlist: list[str]


def active_accounts(dep: Deployment) -> list[str]:
    """Accounts of every Active organisation in ParticipantRegistry, in admission order (checksummed)."""
    pr = dep.participants
    out: list[str] = []
    for i in range(pr.organisationCount()):
        oid = pr.organisationAt(i)
        if pr.organisation(oid).status == ACTIVE:
            out += sorted(to_checksum(a) for a in pr.accountsOf(oid))
    return out


def check_besu_parameters(out: Path, validators: int, period: int) -> None:
    """Refuse what :func:`write_besu_network` cannot write, before anything is read or written.

    Raises:
        BesuConfigError: validators not in 1..16, period < 1 s, or ``out`` not an empty directory.
    """
    if isinstance(validators, bool) or not isinstance(validators, int) or not 1 <= validators <= 16:
        raise BesuConfigError(f"validators must be an integer in 1..16, got {validators!r}")
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise BesuConfigError(f"block period must be an integer ≥ 1 second, got {period!r}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BesuConfigError(f"{out} is not an empty directory")


def write_besu_network(out: Path, dep: Deployment, validators: int = 4, *, period: int = 2,
                       host: str = "127.0.0.1", gas_limit: int = DEFAULT_GAS_LIMIT) -> BesuNetwork:
    """Write a Besu QBFT network for the deployment ``dep`` into ``out`` (module docstring).

    Args:
        out: an empty or absent directory.
        dep: the ledger's deployment (chain id, compiler EVM version; ParticipantRegistry read for
            the allowlists).
        validators: 1..16 validators (QBFT tolerates f faulty of 3f + 1: 4 tolerate 1).
        period: ``blockperiodseconds``, ≥ 1.
        host: host of every validator's enode (validator i on P2P port 30303 + i).
        gas_limit: block gas limit.

    Raises:
        BesuConfigError: a parameter out of range, or ``out`` not empty.
    """
    check_besu_parameters(out, validators, period)
    out = Path(out)
    milestones = besu_milestones(dep.manifest["compiler"]["evmVersion"])
    out.mkdir(parents=True, exist_ok=True)
    vals: list[BesuValidator] = []
    for i in range(validators):
        key = new_private_key()
        d = out / f"validator-{i + 1}"
        d.mkdir()
        fd = os.open(d / "key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("0x" + key.hex())
        node_id = enode_id(key)
        (d / "key.pub").write_text("0x" + node_id)
        vals.append(BesuValidator(d.name, Signer(key).address, enode_url(node_id, P2P_PORT + i, host)))
    ordered = sorted(vals, key=lambda v: address_bytes(v.address))
    genesis = {
        "config": {"chainId": dep.manifest["chain_id"], **milestones, "zeroBaseFee": True,
                   "qbft": {"blockperiodseconds": period, "epochlength": DEFAULT_EPOCH,
                            "requesttimeoutseconds": REQUEST_TIMEOUT_S}},
        "nonce": "0x0", "timestamp": "0x0", "extraData": qbft_extra_data([v.address for v in ordered]),
        "gasLimit": hex(gas_limit), "difficulty": "0x1", "mixHash": BFT_MIX_HASH, "coinbase": "0x" + "00" * 20,
        "alloc": {},
    }
    (out / "genesis.json").write_text(json.dumps(genesis, indent=2))
    nodes = [v.enode for v in vals] + [n.enode for n in admitted_nodes(dep)]
    accounts = active_accounts(dep)
    (out / "permissions_config.toml").write_text(
        "# Generated by `carbonledger network besu-config` from ParticipantRegistry "
        f"(chain {dep.manifest['chain_id']}, registry {dep.participants.address}).\n"
        "# Regenerate after every admission, suspension or node registration and reload it on every node\n"
        "# (perm_reloadPermissionsFromFile), or edit it through perm_addNodesToAllowlist / perm_addAccountsToAllowlist.\n"
        f"nodes-allowlist={json.dumps(nodes)}\naccounts-allowlist={json.dumps(accounts)}\n")
    (out / "RUNBOOK.md").write_text(_runbook(dep.manifest["chain_id"], vals, period))
    return BesuNetwork(out, dep.manifest["chain_id"], vals, nodes, accounts)


def _runbook(chain_id: int, vals: list[BesuValidator], period: int) -> str:
    starts = "\n".join(
        f"besu --data-path={v.name}/data --genesis-file=genesis.json --node-private-key-file={v.name}/key "
        f"--p2p-host=127.0.0.1 --p2p-port={P2P_PORT + i} --rpc-http-enabled --rpc-http-host=127.0.0.1 "
        f"--rpc-http-port={RPC_PORT + i} --rpc-http-api=ETH,NET,WEB3,TXPOOL --min-gas-price=0 "
        f"--discovery-enabled=false --bootnodes={vals[0].enode} --permissions-nodes-config-file-enabled "
        f"--permissions-accounts-config-file-enabled --permissions-nodes-config-file=permissions_config.toml "
        f"--permissions-accounts-config-file=permissions_config.toml"
        for i, v in enumerate(vals))
    return f"""# Besu QBFT network for CarbonLedger (chain {chain_id})

Generated by `carbonledger network besu-config`. Besu is not installed where this was generated;
install Hyperledger Besu (a Java distribution) on each validator host.

## Start the validators ({len(vals)}, block period {period} s)

QBFT is Byzantine-fault tolerant: with n = 3f + 1 validators it goes on while at most f are faulty or
down, and a block is final as soon as it is added (no reorganisation). Each organisation runs its own
validator on its own host (change `127.0.0.1` and the ports in `permissions_config.toml` and below):

```bash
{starts}
```

Point the ledger at any validator's RPC URL with the same chain id; the code uses only standard
JSON-RPC and locally signed raw transactions, so nothing else changes (final after 1 block).

## Backups

- The oracle stores (`oracles/<name>.sqlite`, or their PostgreSQL databases) hold the signed readings the
  chain commits to by Merkle root: back them up (SQLite `.backup`, or `pg_dump`) at least daily and before
  every upgrade; the chain alone cannot restore a reading.
- The API store (`api.sqlite` / its database) holds API keys (hashed), idempotency records and encrypted
  evidence: back it up the same way. The chain-event indexer is a cache and can be rebuilt from the chain.
- Each validator's `data/` can be rebuilt by syncing from the others; its `key` cannot: keep an offline copy.

## Key rotation

- Validator (node) key: start a new node with a new key, add its enode to `nodes-allowlist` on every node,
  vote it in (`qbft_proposeValidatorVote(<new address>, true)` on more than half of the validators), then
  vote the old address out and retire the old node.
- Organisation accounts: the regulator adds the new account (`ParticipantRegistry.addAccount`), regenerate
  `accounts-allowlist`, then the regulator removes the old one (`removeAccount`).

## What every consortium node can read

Everything on the chain: every block, transaction, event and contract state — meter-batch roots and
totals, emissions, holdings, trades and their prices. Confidential documents go on-chain only as hashes
of encrypted envelopes (AES-256-GCM, keys wrapped per reader); readings themselves stay in the oracle
stores. Node and account allowlists limit who connects and who transacts, not who reads.
"""
