"""Deployment of the core contracts and a typed handle on a deployed set.

The deployment manifest (JSON) records the chain id, the deployment block, the compiler
version and settings, the per-deployment salt of the oracle config digest, and for each
contract its address, ABI and the SHA-256 of its ABI and bytecode (DESIGN.md §3).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from ledger.chain.client import Call, ChainClient
from ledger.contracts.compiler import Artifact, compiler_version
from ledger.crypto.primitives import Eip712Domain

#: Deployment order of the MRV contracts; each constructor takes addresses of earlier ones.
CORE_CONTRACTS = ("ParticipantRegistry", "DeviceRegistry", "EmissionFactorRegistry", "MeterDataAnchor", "EmissionsRegistry")
#: Carbon assets and the market (issue 4), deployed after the core and wired by operator roles.
MARKET_CONTRACTS = ("CarbonAssets", "CCERRegistry", "CashToken", "Settlement", "Allocation", "Compliance",
                    "EvidenceRegistry")
#: Every contract of a deployment.
CONTRACTS = CORE_CONTRACTS + MARKET_CONTRACTS
#: EIP-712 domain of meter data (fixed interface).
ANCHOR_DOMAIN_NAME, ANCHOR_DOMAIN_VERSION = "CarbonLedger MeterDataAnchor", "1"


class DeploymentError(RuntimeError):
    """A manifest does not match the chain it is used with."""


def deploy_all(client: ChainClient, artifacts: dict[str, Artifact], regulator: str, regulator_org: bytes,
               regulator_uscc: bytes, salt: bytes | None = None, rpc_url: str | None = None) -> dict[str, Any]:
    """Deploy every contract (:data:`CONTRACTS`) from ``regulator``'s account, wire the market
    contracts' operator roles, and return the manifest.

    Args:
        regulator: the regulator's account (signing key registered in ``client``).
        regulator_org: 32-byte organisation id of the regulator; regulator_uscc: its USCC (bytes32).
        salt: per-deployment random salt of the config digest (32 bytes; random if None).
    """
    salt = salt or secrets.token_bytes(32)
    start_block = int(client.rpc("eth_blockNumber"), 16)
    addr: dict[str, str] = {}

    def dep(name: str, *args: Any) -> None:
        a = artifacts[name]
        addr[name] = client.deploy(regulator, a.abi, a.bytecode, *args, label=f"deploy {name}")

    dep("ParticipantRegistry", regulator, regulator_org, regulator_uscc)
    dep("DeviceRegistry", addr["ParticipantRegistry"])
    dep("EmissionFactorRegistry", addr["ParticipantRegistry"])
    dep("MeterDataAnchor", addr["ParticipantRegistry"], addr["DeviceRegistry"], salt)
    dep("EmissionsRegistry", addr["ParticipantRegistry"], addr["DeviceRegistry"], addr["EmissionFactorRegistry"], addr["MeterDataAnchor"])
    addr.update(deploy_market_contracts(client, artifacts, regulator, addr))
    return {
        "chain_id": client.chain_id,
        "rpc_url": rpc_url or client.rpc_url,
        "deployment_block": start_block + 1,
        "deployed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "compiler": {"solc": compiler_version(), "evmVersion": "paris", "optimizer_runs": 200},
        "config_salt": "0x" + salt.hex(),
        "regulator": regulator,
        "contracts": {n: {"address": addr[n], "abi": artifacts[n].abi, "abi_sha256": artifacts[n].abi_sha256,
                          "bytecode_sha256": artifacts[n].bytecode_sha256} for n in CONTRACTS},
    }


def deploy_market_contracts(client: ChainClient, artifacts: dict[str, Artifact], regulator: str,
                            addresses: dict[str, str]) -> dict[str, str]:
    """Deploy those of :data:`MARKET_CONTRACTS` not in ``addresses`` (CarbonAssets, then CCERRegistry,
    CashToken and Settlement, then Allocation and Compliance, then EvidenceRegistry) and grant their operator roles;
    returns the new name → address entries. ``addresses`` must hold the core contracts."""

    have = dict(addresses)
    new: dict[str, str] = {}
    if "CarbonAssets" not in have:
        new["CarbonAssets"] = deploy_assets(client, artifacts, regulator, have["ParticipantRegistry"])
        have.update(new)
    if "Settlement" not in have:
        new.update(deploy_market(client, artifacts, regulator, have["ParticipantRegistry"], have["CarbonAssets"]))
        have.update(new)
    if "Compliance" not in have:
        new.update(deploy_compliance(client, artifacts, regulator, have))
        have.update(new)
    if "EvidenceRegistry" not in have:
        new["EvidenceRegistry"] = deploy_evidence(client, artifacts, regulator, have)
    return new


def outdated_contracts(artifacts: dict[str, Artifact], manifest: dict[str, Any]) -> list[str]:
    """Contracts of ``manifest`` whose ABI differs from the compiled sources (deployed by an older
    version of the project)."""
    return sorted(n for n, i in manifest["contracts"].items()
                  if n in artifacts and i.get("abi_sha256") != artifacts[n].abi_sha256)


def extend_manifest(client: ChainClient, artifacts: dict[str, Artifact], manifest: dict[str, Any]) -> bool:
    """Deploy into an existing deployment the market contracts it predates, updating ``manifest``
    in place; True if anything was deployed.

    Raises:
        DeploymentError: the deployed contracts' ABIs differ from the sources (an older version's
            deployment): nothing is deployed; the message names them.
    """
    old = outdated_contracts(artifacts, manifest)
    if old:
        raise DeploymentError(f"this deployment was made by an older version of the contracts ({', '.join(old)} changed "
                              "since); contracts are not upgradeable: start with a new --data-dir (or delete the old one)")
    addresses = {n: i["address"] for n, i in manifest["contracts"].items()}
    if all(n in addresses for n in MARKET_CONTRACTS):
        return False
    new = deploy_market_contracts(client, artifacts, manifest["regulator"], addresses)
    for n, a in new.items():
        manifest["contracts"][n] = {"address": a, "abi": artifacts[n].abi, "abi_sha256": artifacts[n].abi_sha256,
                                    "bytecode_sha256": artifacts[n].bytecode_sha256}
    return True


def save_manifest(manifest: dict[str, Any], path: Path) -> None:
    """Write the manifest atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2))
    tmp.replace(path)


@dataclass
class Deployment:
    """web3 contract handles of one deployment, bound to a chain client."""

    client: ChainClient
    manifest: dict[str, Any]

    def __post_init__(self) -> None:
        if self.manifest["chain_id"] != self.client.chain_id:
            raise DeploymentError(f"manifest is for chain {self.manifest['chain_id']}, node says {self.client.chain_id}")
        self.c: dict[str, Any] = {}
        for name, info in self.manifest["contracts"].items():
            self.client.register_errors(info["abi"])
            self.c[name] = self.client.w3.eth.contract(address=to_checksum_address(info["address"]), abi=info["abi"])

    @classmethod
    def load(cls, client: ChainClient, path: Path) -> Deployment:
        """Load a manifest and check that its contracts exist on the client's chain.

        Raises:
            DeploymentError: if the chain id differs or a contract has no code.
        """
        d = cls(client, json.loads(path.read_text()))
        codes = client.rpc_batch([("eth_getCode", [c.address, "latest"]) for c in d.c.values()])
        for name, code in zip(d.c, codes):
            if code.get("result") in (None, "0x"):
                raise DeploymentError(f"{name} has no code at {d.c[name].address} on this chain")
        return d

    @property
    def participants(self) -> Any:
        return self.c["ParticipantRegistry"]

    @property
    def devices(self) -> Any:
        return self.c["DeviceRegistry"]

    @property
    def factors(self) -> Any:
        return self.c["EmissionFactorRegistry"]

    @property
    def anchor(self) -> Any:
        return self.c["MeterDataAnchor"]

    @property
    def emissions(self) -> Any:
        return self.c["EmissionsRegistry"]

    @property
    def assets(self) -> Any:
        return self.c["CarbonAssets"]

    @property
    def ccer(self) -> Any:
        return self.c["CCERRegistry"]

    @property
    def cash(self) -> Any:
        return self.c["CashToken"]

    @property
    def settlement(self) -> Any:
        return self.c["Settlement"]

    @property
    def allocation(self) -> Any:
        return self.c["Allocation"]

    @property
    def compliance(self) -> Any:
        return self.c["Compliance"]

    @property
    def evidence(self) -> Any:
        return self.c["EvidenceRegistry"]

    @property
    def domain(self) -> Eip712Domain:
        """EIP-712 domain of meter data (readings and batch reports)."""
        return Eip712Domain(ANCHOR_DOMAIN_NAME, ANCHOR_DOMAIN_VERSION, self.client.chain_id, self.anchor.address)

    def config_digest(self) -> bytes:
        """The anchor's current oracle config digest."""
        return bytes(self.client.call(self.anchor.functions.configDigest()))

    def quorum(self) -> int:
        """The anchor's current quorum."""
        return int(self.client.call(self.anchor.functions.oracles())[1])

    def role(self, name: str) -> bytes:
        """Role id (e.g. ``"ENTERPRISE_ROLE"``) read from ParticipantRegistry."""
        return bytes(self.client.call(getattr(self.participants.functions, name)()))


# --------------------------------------------------------------------------- market contracts
#: Deployment order of the market contracts (after CarbonAssets).
MARKET_CONTRACTS = ("CCERRegistry", "CashToken", "Settlement")


def deploy_assets(client: ChainClient, artifacts: dict[str, Artifact], regulator: str,
                  participants_address: str) -> str:
    """Deploy CarbonAssets from ``regulator``'s account; returns its address."""
    a = artifacts["CarbonAssets"]
    return client.deploy(regulator, a.abi, a.bytecode, participants_address, label="deploy CarbonAssets")


def deploy_market(client: ChainClient, artifacts: dict[str, Artifact], regulator: str,
                  participants_address: str, assets_address: str) -> dict[str, str]:
    """Deploy CCERRegistry, CashToken and Settlement and wire their operator roles.

    The regulator grants CarbonAssets' ``CCER_ISSUER_ROLE`` to CCERRegistry and
    ``SETTLEMENT_ROLE`` to Settlement, and makes Settlement the CashToken operator.

    Returns:
        ``{"CCERRegistry": address, "CashToken": address, "Settlement": address}``.

    Raises:
        ContractRevert: e.g. ``NotRegulator`` if ``regulator`` is not an active regulator account.
    """
    addr: dict[str, str] = {}

    def dep(name: str, *args: Any) -> None:
        a = artifacts[name]
        addr[name] = client.deploy(regulator, a.abi, a.bytecode, *args, label=f"deploy {name}")

    dep("CCERRegistry", participants_address, assets_address)
    dep("CashToken", participants_address)
    dep("Settlement", participants_address, assets_address, addr["CashToken"])
    assets = client.w3.eth.contract(address=assets_address, abi=artifacts["CarbonAssets"].abi)
    cash = client.w3.eth.contract(address=addr["CashToken"], abi=artifacts["CashToken"].abi)
    ccer_role = bytes(client.call(assets.functions.CCER_ISSUER_ROLE()))
    settle_role = bytes(client.call(assets.functions.SETTLEMENT_ROLE()))
    client.send([
        Call.of(assets.functions.grantOperator(ccer_role, addr["CCERRegistry"]), regulator, "grant CCER_ISSUER_ROLE"),
        Call.of(assets.functions.grantOperator(settle_role, addr["Settlement"]), regulator, "grant SETTLEMENT_ROLE"),
        Call.of(cash.functions.grantOperator(addr["Settlement"]), regulator, "grant CashToken operator"),
    ])
    return addr


# --------------------------------------------------------------------------- compliance contracts
def deploy_compliance(client: ChainClient, artifacts: dict[str, Artifact], regulator: str,
                      addresses: dict[str, str]) -> dict[str, str]:
    """Deploy Allocation and Compliance and wire their roles.

    Args:
        client: chain client with ``regulator``'s key.
        artifacts: compiled contracts (``compile_contracts``).
        regulator: an Active regulator account.
        addresses: ``ParticipantRegistry``, ``EmissionsRegistry``, ``CarbonAssets`` and optionally
            ``CCERRegistry`` (absent: Compliance accepts no CCER).

    Returns:
        ``{"Allocation": address, "Compliance": address}``.

    Grants CEA_ISSUER_ROLE to Allocation and COMPLIANCE_ROLE to Compliance on CarbonAssets, and
    names Compliance as Allocation's Compliance contract (deductions).

    Raises:
        KeyError: a required address is missing. ContractRevert: a grant is refused (e.g. the
            sender is not the regulator).
    """
    a = artifacts["Allocation"]
    allocation = client.deploy(regulator, a.abi, a.bytecode, addresses["ParticipantRegistry"],
                               addresses["EmissionsRegistry"], addresses["CarbonAssets"], label="deploy Allocation")
    c = artifacts["Compliance"]
    ccer = addresses.get("CCERRegistry") or "0x" + "00" * 20
    compliance = client.deploy(regulator, c.abi, c.bytecode, addresses["ParticipantRegistry"],
                               addresses["EmissionsRegistry"], allocation, addresses["CarbonAssets"], ccer,
                               label="deploy Compliance")
    assets = client.w3.eth.contract(address=addresses["CarbonAssets"], abi=artifacts["CarbonAssets"].abi)
    alloc = client.w3.eth.contract(address=allocation, abi=a.abi)
    cea_role = bytes(client.call(assets.functions.CEA_ISSUER_ROLE()))
    comp_role = bytes(client.call(assets.functions.COMPLIANCE_ROLE()))
    client.send([
        Call.of(assets.functions.grantOperator(cea_role, allocation), regulator, "grant CEA_ISSUER_ROLE"),
        Call.of(assets.functions.grantOperator(comp_role, compliance), regulator, "grant COMPLIANCE_ROLE"),
        Call.of(alloc.functions.setComplianceContract(compliance), regulator, "Allocation.setComplianceContract"),
    ])
    return {"Allocation": allocation, "Compliance": compliance}


# --------------------------------------------------------------------------- evidence
def deploy_evidence(client: ChainClient, artifacts: dict[str, Artifact], regulator: str, addresses: dict[str, str]) -> str:
    """Deploy EvidenceRegistry(ParticipantRegistry, EmissionsRegistry) from ``regulator``; its address."""
    a = artifacts["EvidenceRegistry"]
    return client.deploy(regulator, a.abi, a.bytecode, addresses["ParticipantRegistry"], addresses["EmissionsRegistry"],
                         label="deploy EvidenceRegistry")
