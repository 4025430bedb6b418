"""Carbon asset ids (Python mirror of ``contracts/lib/AssetIds.sol``) and deployment of the asset
contracts' operator roles.

Token id bit layout (1 token = 1 tCO2e)::

    bits 255…248  asset class   1 = CEA (碳排放配额), 2 = CCER (核证自愿减排量)
    bits 247…232  vintage       CEA: compliance year; CCER: year the reduction occurred
    bits 231…64   reserved      zero
    bits  63…0    project       CCER: registry project number (> 0); CEA: zero
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class AssetClass(IntEnum):
    """Asset class byte of a token id."""

    CEA = 1
    CCER = 2


class MalformedAssetId(ValueError):
    """A token id or its parts do not fit the AssetIds layout."""


@dataclass(frozen=True)
class AssetId:
    """A decoded token id."""

    asset_class: AssetClass
    vintage: int
    project: int = 0

    @property
    def token_id(self) -> int:
        return asset_id(self.asset_class, self.vintage, self.project)

    def __str__(self) -> str:
        if self.asset_class is AssetClass.CEA:
            return f"CEA-{self.vintage}"
        return f"CCER-{self.project}-{self.vintage}"


def asset_id(asset_class: AssetClass | int, vintage: int, project: int = 0) -> int:
    """Token id of CEA of compliance year ``vintage`` (project 0) or CCER of ``project`` (> 0) and
    reduction year ``vintage``.

    Raises:
        MalformedAssetId: unknown class, vintage outside 1…65535, project outside its class's range.
    """
    cls = AssetClass(asset_class)
    if not 0 < vintage < 1 << 16:
        raise MalformedAssetId(f"vintage {vintage} is not a year in 1…65535")
    if cls is AssetClass.CEA and project != 0:
        raise MalformedAssetId(f"CEA ids carry no project (got {project})")
    if cls is AssetClass.CCER and not 0 < project < 1 << 64:
        raise MalformedAssetId(f"CCER project number {project} is not in 1…2^64-1")
    return (int(cls) << 248) | (vintage << 232) | project


def cea_id(vintage: int) -> int:
    """Token id of CEA of compliance year ``vintage``."""
    return asset_id(AssetClass.CEA, vintage)


def ccer_id(vintage: int, project: int) -> int:
    """Token id of CCER of registry project ``project`` and reduction year ``vintage``."""
    return asset_id(AssetClass.CCER, vintage, project)


def parse_asset_id(token_id: int) -> AssetId:
    """Decode a token id.

    Raises:
        MalformedAssetId: the id does not follow the layout (same rule as
            ``AssetIds.requireWellFormed``).
    """
    if not 0 <= token_id < 1 << 256:
        raise MalformedAssetId(f"{token_id} is not a uint256")
    cls, vintage, project = token_id >> 248, (token_id >> 232) & 0xFFFF, token_id & ((1 << 64) - 1)
    if (token_id >> 64) & ((1 << 168) - 1):
        raise MalformedAssetId(f"{token_id:#x} has reserved bits set")
    try:
        out = AssetId(AssetClass(cls), vintage, project)
    except ValueError:
        raise MalformedAssetId(f"{token_id:#x} has unknown asset class {cls}") from None
    asset_id(out.asset_class, out.vintage, out.project)  # range checks
    return out


def parse_asset_name(name: str) -> int:
    """Token id of a name as printed by :class:`AssetId` (``CEA-2021``, ``CCER-<project>-<vintage>``)."""
    parts = name.strip().upper().split("-")
    try:
        if parts[0] == "CEA" and len(parts) == 2:
            return cea_id(int(parts[1]))
        if parts[0] == "CCER" and len(parts) == 3:
            return ccer_id(int(parts[2]), int(parts[1]))
    except ValueError as e:
        raise MalformedAssetId(f"{name!r}: {e}") from None
    raise MalformedAssetId(f"{name!r} is not CEA-<year> or CCER-<project>-<year>")
