"""The deployment manifest and a typed handle on a deployed set of contracts.

The deployment manifest (JSON) records the chain id, the deployment block, the compiler
version and settings, the per-deployment salt of the oracle config digest, and for each
contract its address, ABI and the SHA-256 of its ABI and bytecode (DESIGN.md §3).
Deploying is ``ledger.contracts.deploy``; :class:`Deployment` binds a manifest's addresses to the
generated bindings (``ledger.contracts._generated``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.chain.client import ChainClient
from ledger.contracts._generated import (
    Allocation,
    CarbonAssets,
    CashToken,
    CCERRegistry,
    Compliance,
    Constitution,
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
    RegulatorCouncil,
    Settlement,
)
from ledger.contracts.binding import ContractBinding
from ledger.contracts.compiler import Artifact
from ledger.crypto.primitives import Eip712Domain

#: Deployment order of the MRV contracts; each constructor takes addresses of earlier ones.
CORE_CONTRACTS = ("ParticipantRegistry", "DeviceRegistry", "EmissionFactorRegistry", "MeterDataAnchor", "MeterRounds",
                  "EmissionsRegistry")
#: Carbon assets and the market (issue 4), deployed after the core and wired by operator roles.
MARKET_CONTRACTS = ("CarbonAssets", "GenerationClaims", "CCERRegistry", "CashToken", "Settlement", "Allocation", "Compliance",
                    "EvidenceRegistry", "GreenCertificates", "NeutralityClaims")
#: Every contract of a deployment.
CONTRACTS = CORE_CONTRACTS + MARKET_CONTRACTS
#: The governance contracts (DESIGN.md "Governance"): in a manifest once the deployer handed the
#: constitution to the regulator council (``ledger.contracts.governance.establish_governance``).
GOVERNANCE_CONTRACTS = ("Constitution", "RegulatorCouncil")
#: EIP-712 domain of meter data (fixed interface).
ANCHOR_DOMAIN_NAME, ANCHOR_DOMAIN_VERSION = "CarbonLedger MeterDataAnchor", "1"


class DeploymentError(RuntimeError):
    """A manifest does not match the chain it is used with."""


#: Binding class of each contract of a deployment.
BINDINGS: dict[str, type[ContractBinding]] = {
    "ParticipantRegistry": ParticipantRegistry, "DeviceRegistry": DeviceRegistry,
    "EmissionFactorRegistry": EmissionFactorRegistry, "MeterDataAnchor": MeterDataAnchor,
    "MeterRounds": MeterRounds,
    "EmissionsRegistry": EmissionsRegistry, "CarbonAssets": CarbonAssets, "CCERRegistry": CCERRegistry,
    "CashToken": CashToken, "Settlement": Settlement, "Allocation": Allocation, "Compliance": Compliance,
    "EvidenceRegistry": EvidenceRegistry, "GreenCertificates": GreenCertificates,
    "GenerationClaims": GenerationClaims, "NeutralityClaims": NeutralityClaims, "Constitution": Constitution,
    "RegulatorCouncil": RegulatorCouncil,
}


def manifest_entry(artifact: Artifact, address: str) -> dict[str, Any]:
    """The manifest's record of one deployed contract: address, ABI and the hashes of ABI and bytecode."""
    return {"address": address, "abi": artifact.abi, "abi_sha256": artifact.abi_sha256,
            "bytecode_sha256": artifact.bytecode_sha256}


def outdated_contracts(artifacts: dict[str, Artifact], manifest: dict[str, Any]) -> list[str]:
    """Contracts of ``manifest`` whose ABI differs from the compiled sources (deployed by an older
    version of the project)."""
    return sorted(n for n, i in manifest["contracts"].items()
                  if n in artifacts and i.get("abi_sha256") != artifacts[n].abi_sha256)


def load_manifest(path: Path) -> dict[str, Any]:
    """Read a manifest written by :func:`save_manifest`.

    Raises:
        DeploymentError: the file is not a manifest (no ``chain_id`` or ``contracts``).
    """
    manifest = json.loads(path.read_text())
    if not isinstance(manifest, dict) or "chain_id" not in manifest or "contracts" not in manifest:
        raise DeploymentError(f"{path} is not a deployment manifest")
    return manifest


def save_manifest(manifest: dict[str, Any], path: Path) -> None:
    """Write the manifest atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2))
    tmp.replace(path)


@dataclass
class Deployment:
    """Typed bindings of one deployment's contracts, bound to a chain client.

    ``c`` maps contract name → binding; the properties name each (``dep.anchor`` is the
    :class:`MeterDataAnchor` binding: ``dep.anchor.batch(1)`` reads a ``Batch`` dataclass).

    Raises:
        DeploymentError: the manifest is for another chain, or names a contract this version has
            no binding for.
    """

    client: ChainClient
    manifest: dict[str, Any]

    def __post_init__(self) -> None:
        if self.manifest["chain_id"] != self.client.chain_id:
            raise DeploymentError(f"manifest is for chain {self.manifest['chain_id']}, node says {self.client.chain_id}")
        self.c: dict[str, ContractBinding] = {}
        for name, info in self.manifest["contracts"].items():
            if name not in BINDINGS:
                raise DeploymentError(f"manifest names {name}, a contract this version does not know")
            self.c[name] = BINDINGS[name](self.client, info["address"])

    @classmethod
    def load(cls, client: ChainClient, path: Path) -> Deployment:
        """Load a manifest and check that its contracts exist on the client's chain.

        Raises:
            DeploymentError: if the chain id differs or a contract has no code.
        """
        d = cls(client, load_manifest(path))
        codes = client.rpc_batch([("eth_getCode", [c.address, "latest"]) for c in d.c.values()])
        for name, code in zip(d.c, codes):
            if code.get("result") in (None, "0x"):
                raise DeploymentError(f"{name} has no code at {d.c[name].address} on this chain")
        return d

    @property
    def participants(self) -> ParticipantRegistry:
        """The ParticipantRegistry binding."""
        return self.c["ParticipantRegistry"]  # type: ignore[return-value]

    @property
    def devices(self) -> DeviceRegistry:
        """The DeviceRegistry binding."""
        return self.c["DeviceRegistry"]  # type: ignore[return-value]

    @property
    def factors(self) -> EmissionFactorRegistry:
        """The EmissionFactorRegistry binding."""
        return self.c["EmissionFactorRegistry"]  # type: ignore[return-value]

    @property
    def anchor(self) -> MeterDataAnchor:
        """The MeterDataAnchor binding."""
        return self.c["MeterDataAnchor"]  # type: ignore[return-value]

    @property
    def rounds(self) -> MeterRounds:
        """The MeterRounds binding (one tree per oracle round across devices)."""
        return self.c["MeterRounds"]  # type: ignore[return-value]

    @property
    def emissions(self) -> EmissionsRegistry:
        """The EmissionsRegistry binding."""
        return self.c["EmissionsRegistry"]  # type: ignore[return-value]

    @property
    def assets(self) -> CarbonAssets:
        """The CarbonAssets binding."""
        return self.c["CarbonAssets"]  # type: ignore[return-value]

    @property
    def ccer(self) -> CCERRegistry:
        """The CCERRegistry binding."""
        return self.c["CCERRegistry"]  # type: ignore[return-value]

    @property
    def cash(self) -> CashToken:
        """The CashToken binding."""
        return self.c["CashToken"]  # type: ignore[return-value]

    @property
    def settlement(self) -> Settlement:
        """The Settlement binding."""
        return self.c["Settlement"]  # type: ignore[return-value]

    @property
    def allocation(self) -> Allocation:
        """The Allocation binding."""
        return self.c["Allocation"]  # type: ignore[return-value]

    @property
    def compliance(self) -> Compliance:
        """The Compliance binding."""
        return self.c["Compliance"]  # type: ignore[return-value]

    @property
    def evidence(self) -> EvidenceRegistry:
        """The EvidenceRegistry binding."""
        return self.c["EvidenceRegistry"]  # type: ignore[return-value]

    @property
    def certificates(self) -> GreenCertificates:
        """The GreenCertificates binding (green electricity certificates, issue 13)."""
        return self.c["GreenCertificates"]  # type: ignore[return-value]

    @property
    def generation_claims(self) -> GenerationClaims:
        """The GenerationClaims binding: which instrument (GEC or CCER) claims a generation device's month."""
        return self.c["GenerationClaims"]  # type: ignore[return-value]

    @property
    def claims(self) -> NeutralityClaims:
        """The NeutralityClaims binding (carbon-neutrality claims backed by CCER retirements)."""
        return self.c["NeutralityClaims"]  # type: ignore[return-value]

    @property
    def constitution(self) -> Constitution:
        """The Constitution (TimelockController) binding; KeyError before governance was established."""
        return self.c["Constitution"]  # type: ignore[return-value]

    @property
    def council(self) -> RegulatorCouncil:
        """The RegulatorCouncil binding; KeyError before governance was established."""
        return self.c["RegulatorCouncil"]  # type: ignore[return-value]

    @property
    def domain(self) -> Eip712Domain:
        """EIP-712 domain of meter data (readings and batch reports)."""
        return Eip712Domain(ANCHOR_DOMAIN_NAME, ANCHOR_DOMAIN_VERSION, self.client.chain_id, self.anchor.address)

    def config_digest(self) -> bytes:
        """The anchor's current oracle config digest."""
        return self.anchor.configDigest()

    def quorum(self) -> int:
        """The anchor's current quorum."""
        return self.anchor.oracles().quorum

    def role(self, name: str) -> bytes:
        """Role id (e.g. ``"ENTERPRISE_ROLE"``) read from ParticipantRegistry."""
        return bytes(self.client.call(getattr(self.participants.functions, name)()))
