"""Typed contract bindings generated from the ABIs by ``python -m ledger.contracts.codegen`` — do not edit."""

from __future__ import annotations

from ledger.contracts._generated.allocation import Allocation
from ledger.contracts._generated.carbon_assets import CarbonAssets
from ledger.contracts._generated.cash_token import CashToken
from ledger.contracts._generated.ccer_registry import CCERRegistry
from ledger.contracts._generated.compliance import Compliance
from ledger.contracts._generated.constitution import Constitution
from ledger.contracts._generated.device_registry import DeviceRegistry
from ledger.contracts._generated.emission_factor_registry import EmissionFactorRegistry
from ledger.contracts._generated.emissions_registry import EmissionsRegistry
from ledger.contracts._generated.evidence_registry import EvidenceRegistry
from ledger.contracts._generated.generation_claims import GenerationClaims
from ledger.contracts._generated.green_certificates import GreenCertificates
from ledger.contracts._generated.meter_data_anchor import MeterDataAnchor
from ledger.contracts._generated.meter_rounds import MeterRounds
from ledger.contracts._generated.neutrality_claims import NeutralityClaims
from ledger.contracts._generated.participant_registry import ParticipantRegistry
from ledger.contracts._generated.regulator_council import RegulatorCouncil
from ledger.contracts._generated.settlement import Settlement

__all__ = ['ParticipantRegistry', 'DeviceRegistry', 'EmissionFactorRegistry', 'MeterDataAnchor', 'MeterRounds', 'EmissionsRegistry', 'CarbonAssets', 'CCERRegistry', 'CashToken', 'Settlement', 'Allocation', 'Compliance', 'EvidenceRegistry', 'GenerationClaims', 'GreenCertificates', 'NeutralityClaims', 'Constitution', 'RegulatorCouncil']
