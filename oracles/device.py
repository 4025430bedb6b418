"""Device-side signing: a meter signs each reading at the source with its own secp256k1 key.

The fixed Reading struct is hashed by hand and signed with coincurve (the fast path,
``ledger.crypto.primitives``), bit for bit what eth-account's EIP-712 signing gives (tests/test_crypto.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ledger.crypto.primitives import Signer
from ledger.meter_data.quantities import ACTIVE_POWER_W
from ledger.meter_data.reading import Reading, reading_digest
from oracles.node import SignedReading
from oracles.uci import MinuteReading


class DeviceSigner:
    """A meter's signing key bound to its device id and the anchor's EIP-712 domain.

    Args:
        device: 32-byte device id registered in DeviceRegistry.
        key: the device's 32-byte private key.
        domain_separator: EIP-712 domain separator of the MeterDataAnchor deployment.
    """

    def __init__(self, device: bytes, key: bytes, domain_separator: bytes) -> None:
        if len(device) != 32:
            raise ValueError(f"device id must be 32 bytes, got {len(device)}")
        self.device = device
        self.signer = Signer(key)
        self.domain_separator = domain_separator

    @property
    def address(self) -> str:
        """The device's signing address (registered in DeviceRegistry)."""
        return self.signer.address

    def sign(self, reading: Reading) -> SignedReading:
        """Sign one reading (its ``device`` must be this device)."""
        if reading.device != self.device:
            raise ValueError("reading belongs to another device")
        return SignedReading(reading, self.signer.sign_digest(reading_digest(self.domain_separator, reading)))

    def sign_minutes(self, minutes: Iterable[MinuteReading]) -> Iterator[SignedReading]:
        """Sign UCI minute readings as average active power in W (quantity 1, scale 0).

        The sequence number is the row's line number in the source file: strictly increasing,
        and stable whichever date range is selected.
        """
        code = ACTIVE_POWER_W.code
        for m in minutes:
            yield self.sign(Reading(self.device, m.line, m.start, m.end, code, m.watts, 0, 0))
