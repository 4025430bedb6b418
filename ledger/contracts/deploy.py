"""Deploying the contracts of a CarbonLedger deployment and wiring their operator roles.

Each contract is deployed by its binding's ``deploy`` (constructor arguments typed from its ABI);
the functions here order the deployments, pass each constructor the addresses of earlier
contracts, grant the roles the contracts need of each other, and write the manifest
(``ledger.contracts.deployment``).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from ledger.chain.client import ChainClient
from ledger.contracts._generated import (
    Allocation,
    CarbonAssets,
    CashToken,
    CCERRegistry,
    Compliance,
    DeviceRegistry,
    EmissionFactorRegistry,
    EmissionsRegistry,
    EvidenceRegistry,
    GenerationClaims,
    GreenCertificates,
    MeterDataAnchor,
    MeterRounds,
    NeutralityClaims,
    ParticipantRegistry,
    Settlement,
)
from ledger.contracts.compiler import Artifact, compiler_version
from ledger.contracts.deployment import CONTRACTS, MARKET_CONTRACTS, DeploymentError, manifest_entry, outdated_contracts

#: The zero address (Compliance without a CCERRegistry accepts no CCER).
ZERO_ADDRESS = "0x" + "00" * 20


def deploy_all(client: ChainClient, artifacts: dict[str, Artifact], regulator: str, regulator_org: bytes,
               regulator_uscc: bytes, salt: bytes | None = None, rpc_url: str | None = None) -> dict[str, Any]:
    """Deploy every contract (``CONTRACTS``) from ``regulator``'s account, wire the market
    contracts' operator roles, and return the manifest.

    ``regulator`` deploys ParticipantRegistry and so holds the bootstrap constitution: it can make
    the constitutional acts of setting up (operator roles here; admitting the exchange, registry and
    bank, the oracle set, the first factor set afterwards) alone until
    :func:`ledger.contracts.governance.establish_governance` hands the constitution to the regulator
    council (DESIGN.md "Governance"). Tests may stay in the bootstrap; the demo hands over.

    Args:
        regulator: the regulator's account (signing key registered in ``client``).
        regulator_org: 32-byte organisation id of the regulator; regulator_uscc: its USCC (bytes32).
        salt: per-deployment random salt of the config digest (32 bytes; random if None).

    Raises:
        ContractRevert: a constructor or a role grant reverts.
    """
    salt = salt or secrets.token_bytes(32)
    start_block = int(client.rpc("eth_blockNumber"), 16)
    addr: dict[str, str] = {}
    b = {n: a.bytecode for n, a in artifacts.items()}
    addr["ParticipantRegistry"] = ParticipantRegistry.deploy(client, regulator, b["ParticipantRegistry"], regulator,
                                                             regulator_org, regulator_uscc).address
    addr["DeviceRegistry"] = DeviceRegistry.deploy(client, regulator, b["DeviceRegistry"],
                                                   addr["ParticipantRegistry"]).address
    addr["EmissionFactorRegistry"] = EmissionFactorRegistry.deploy(client, regulator, b["EmissionFactorRegistry"],
                                                                   addr["ParticipantRegistry"]).address
    addr["MeterDataAnchor"] = MeterDataAnchor.deploy(client, regulator, b["MeterDataAnchor"], addr["ParticipantRegistry"],
                                                     addr["DeviceRegistry"], salt).address
    addr["MeterRounds"] = MeterRounds.deploy(client, regulator, b["MeterRounds"], addr["ParticipantRegistry"],
                                             addr["DeviceRegistry"], addr["MeterDataAnchor"]).address
    addr["EmissionsRegistry"] = EmissionsRegistry.deploy(client, regulator, b["EmissionsRegistry"],
                                                         addr["ParticipantRegistry"], addr["DeviceRegistry"],
                                                         addr["EmissionFactorRegistry"], addr["MeterDataAnchor"],
                                                         addr["MeterRounds"]).address
    addr.update(deploy_market_contracts(client, artifacts, regulator, addr))
    return {
        "chain_id": client.chain_id,
        "rpc_url": rpc_url or client.rpc_url,
        "deployment_block": start_block + 1,
        "deployed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "compiler": {"solc": compiler_version(), "evmVersion": "paris", "optimizer_runs": 200},
        "config_salt": "0x" + salt.hex(),
        "regulator": regulator,
        "contracts": {n: manifest_entry(artifacts[n], addr[n]) for n in CONTRACTS},
    }


def deploy_market_contracts(client: ChainClient, artifacts: dict[str, Artifact], regulator: str,
                            addresses: dict[str, str]) -> dict[str, str]:
    """Deploy those of ``MARKET_CONTRACTS`` not in ``addresses`` (CarbonAssets, then GenerationClaims,
    then CCERRegistry, CashToken and Settlement, then Allocation and Compliance, then EvidenceRegistry and
    GreenCertificates, then NeutralityClaims) and grant their operator roles (GreenCertificates and
    CCERRegistry become GenerationClaims' GEC and CCER writers); returns the new name → address entries.

    Raises:
        KeyError: ``addresses`` lacks a core contract. ContractRevert: a deployment or grant reverts.
    """
    have = dict(addresses)
    new: dict[str, str] = {}
    if "CarbonAssets" not in have:
        new["CarbonAssets"] = deploy_assets(client, artifacts, regulator, have["ParticipantRegistry"])
        have.update(new)
    if "GenerationClaims" not in have:      # issue 13: GEC or CCER, never both, per generation device-month
        new["GenerationClaims"] = GenerationClaims.deploy(client, regulator, artifacts["GenerationClaims"].bytecode,
                                                          have["ParticipantRegistry"], have["DeviceRegistry"]).address
        have.update(new)
    if "Settlement" not in have:
        new.update(deploy_market(client, artifacts, regulator, have["ParticipantRegistry"], have["CarbonAssets"],
                                 have["GenerationClaims"]))
        have.update(new)
    if "Compliance" not in have:
        new.update(deploy_compliance(client, artifacts, regulator, have))
        have.update(new)
    if "EvidenceRegistry" not in have:
        new["EvidenceRegistry"] = deploy_evidence(client, artifacts, regulator, have)
    if "GreenCertificates" not in have:     # issue 13: green electricity certificates
        new["GreenCertificates"] = GreenCertificates.deploy(client, regulator, artifacts["GreenCertificates"].bytecode,
                                                            have["ParticipantRegistry"], have["MeterDataAnchor"],
                                                            have["EmissionsRegistry"], have["GenerationClaims"]).address
        have.update(new)
    if "GenerationClaims" in new:
        claims = GenerationClaims(client, have["GenerationClaims"])
        client.send([
            claims.setWriter(have["GreenCertificates"], claims.GEC(), sender=regulator, label="GenerationClaims GEC writer"),
            claims.setWriter(have["CCERRegistry"], claims.CCER(), sender=regulator, label="GenerationClaims CCER writer"),
        ])
    if "NeutralityClaims" not in have:
        new["NeutralityClaims"] = deploy_claims(client, artifacts, regulator, have)
    return new


def extend_manifest(client: ChainClient, artifacts: dict[str, Artifact], manifest: dict[str, Any]) -> bool:
    """Deploy into an existing deployment the market contracts and MeterRounds it predates,
    updating ``manifest`` in place; True if anything was deployed.

    Raises:
        DeploymentError: the deployed contracts' ABIs differ from the sources (an older version's
            deployment): nothing is deployed; the message names them.
    """
    old = outdated_contracts(artifacts, manifest)
    if old:
        raise DeploymentError(f"this deployment was made by an older version of the contracts ({', '.join(old)} changed "
                              "since); contracts are not upgradeable: start with a new --data-dir (or delete the old one)")
    addresses = {n: i["address"] for n, i in manifest["contracts"].items()}
    new: dict[str, str] = {}
    if "MeterRounds" not in addresses:      # issue 12: rounds across devices; reads the anchor's oracle set
        new["MeterRounds"] = MeterRounds.deploy(client, manifest["regulator"], artifacts["MeterRounds"].bytecode,
                                                addresses["ParticipantRegistry"], addresses["DeviceRegistry"],
                                                addresses["MeterDataAnchor"]).address
    if not all(n in addresses for n in MARKET_CONTRACTS):
        new.update(deploy_market_contracts(client, artifacts, manifest["regulator"], addresses))
    if not new:
        return False
    for n, a in new.items():
        manifest["contracts"][n] = manifest_entry(artifacts[n], a)
    return True


def deploy_assets(client: ChainClient, artifacts: dict[str, Artifact], regulator: str,
                  participants_address: str) -> str:
    """Deploy CarbonAssets(ParticipantRegistry) from ``regulator``'s account; returns its address.

    While ``regulator`` still holds the bootstrap constitution it makes CarbonAssets the registry's
    admission listener (``setAdmissionListener``: the registry pushes its admission epoch, so a
    warm transfer makes no external call, docs/gas.md); otherwise CarbonAssets stays detached and
    asks the registry on every transfer until the council attaches it (same checks, more gas).
    """
    assets = CarbonAssets.deploy(client, regulator, artifacts["CarbonAssets"].bytecode, participants_address)
    registry = ParticipantRegistry(client, participants_address)
    if registry.constitution().lower() == regulator.lower():
        client.send([registry.setAdmissionListener(assets.address, sender=regulator, label="attach CarbonAssets")])
    return assets.address


def deploy_market(client: ChainClient, artifacts: dict[str, Artifact], regulator: str,
                  participants_address: str, assets_address: str, claims_address: str = ZERO_ADDRESS) -> dict[str, str]:
    """Deploy CCERRegistry, CashToken and Settlement and wire their operator roles.

    ``claims_address`` is the GenerationClaims CCERRegistry claims generation device-months in (the
    zero address: a registry that refuses ``issueGenerationBatch``); naming CCERRegistry its CCER
    writer is left to the caller (:func:`deploy_market_contracts`).

    The regulator grants CarbonAssets' ``CCER_ISSUER_ROLE`` to CCERRegistry and
    ``SETTLEMENT_ROLE`` to Settlement, and makes Settlement the CashToken operator.

    Returns:
        ``{"CCERRegistry": address, "CashToken": address, "Settlement": address}``.

    Raises:
        ContractRevert: e.g. ``NotRegulator`` if ``regulator`` is not an active regulator account.
    """
    ccer = CCERRegistry.deploy(client, regulator, artifacts["CCERRegistry"].bytecode, participants_address, assets_address,
                               claims_address)
    cash = CashToken.deploy(client, regulator, artifacts["CashToken"].bytecode, participants_address)
    settlement = Settlement.deploy(client, regulator, artifacts["Settlement"].bytecode, participants_address,
                                   assets_address, cash.address)
    assets = CarbonAssets(client, assets_address)
    client.send([
        assets.grantOperator(assets.CCER_ISSUER_ROLE(), ccer.address, sender=regulator, label="grant CCER_ISSUER_ROLE"),
        assets.grantOperator(assets.SETTLEMENT_ROLE(), settlement.address, sender=regulator,
                             label="grant SETTLEMENT_ROLE"),
        cash.grantOperator(settlement.address, sender=regulator, label="grant CashToken operator"),
    ])
    return {"CCERRegistry": ccer.address, "CashToken": cash.address, "Settlement": settlement.address}


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
    allocation = Allocation.deploy(client, regulator, artifacts["Allocation"].bytecode, addresses["ParticipantRegistry"],
                                   addresses["EmissionsRegistry"], addresses["CarbonAssets"])
    compliance = Compliance.deploy(client, regulator, artifacts["Compliance"].bytecode, addresses["ParticipantRegistry"],
                                   addresses["EmissionsRegistry"], allocation.address, addresses["CarbonAssets"],
                                   addresses.get("CCERRegistry") or ZERO_ADDRESS)
    assets = CarbonAssets(client, addresses["CarbonAssets"])
    client.send([
        assets.grantOperator(assets.CEA_ISSUER_ROLE(), allocation.address, sender=regulator, label="grant CEA_ISSUER_ROLE"),
        assets.grantOperator(assets.COMPLIANCE_ROLE(), compliance.address, sender=regulator,
                             label="grant COMPLIANCE_ROLE"),
        allocation.setComplianceContract(compliance.address, sender=regulator, label="Allocation.setComplianceContract"),
    ])
    return {"Allocation": allocation.address, "Compliance": compliance.address}


def deploy_evidence(client: ChainClient, artifacts: dict[str, Artifact], regulator: str, addresses: dict[str, str]) -> str:
    """Deploy EvidenceRegistry(ParticipantRegistry, EmissionsRegistry) from ``regulator``; its address."""
    return EvidenceRegistry.deploy(client, regulator, artifacts["EvidenceRegistry"].bytecode,
                                   addresses["ParticipantRegistry"], addresses["EmissionsRegistry"]).address


def deploy_claims(client: ChainClient, artifacts: dict[str, Artifact], regulator: str, addresses: dict[str, str]) -> str:
    """Deploy NeutralityClaims(ParticipantRegistry, EmissionsRegistry, CCERRegistry, GreenCertificates)
    from ``regulator``; its address. It only reads the registries and GreenCertificates (market-based
    scope 2 of purchased electricity), so no role is granted (issue 13)."""
    return NeutralityClaims.deploy(client, regulator, artifacts["NeutralityClaims"].bytecode,
                                   addresses["ParticipantRegistry"], addresses["EmissionsRegistry"],
                                   addresses["CCERRegistry"], addresses["GreenCertificates"]).address
