"""Device registrations read from DeviceRegistry on-chain, cached for the oracle hot path."""

from __future__ import annotations

import time
from typing import Any

from ledger.crypto.primitives import address_bytes
from oracles.node import DeviceInfo


class ChainDeviceDirectory:
    """Looks devices up in DeviceRegistry; answers are cached for ``ttl`` seconds.

    A revoked device or an owner that is no longer active shows up within ``ttl``.
    """

    def __init__(self, deployment: Any, ttl: float = 30.0) -> None:
        self.dep, self.ttl = deployment, ttl
        self._cache: dict[bytes, tuple[float, DeviceInfo | None]] = {}

    def get(self, device: bytes) -> DeviceInfo | None:
        """The device's registration, or None if it is not registered."""
        hit = self._cache.get(device)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        info = self._fetch(device)
        self._cache[device] = (now, info)
        return info

    def _fetch(self, device: bytes) -> DeviceInfo | None:
        devices = self.dep.devices
        d = devices.device(device)
        if d.status == 0:
            return None
        usable = d.status == 1 and self.dep.participants.organisation(d.ownerOrg).status == 1   # Active, Active
        cals = tuple((c.validFrom, c.validUntil) for c in devices.calibrations(device))
        return DeviceInfo(device, d.ownerOrg, address_bytes(d.signer), d.quantityCode, cals, usable)
