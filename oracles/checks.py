"""The checks of a signed reading that need no stored state (DESIGN.md §7 step 2), as one plain
function over tuples so that an oracle node can run it in worker processes
(:class:`ledger.meter_data.workers.CheckWorkers`) — issue 14: a node uses every core.

Per reading, in this order (the first failing check names the reason):

==================== ==========================================================================
``malformed``        a reading of another device than the MQTT topic's; a field outside its
                     Solidity type (:meth:`ledger.meter_data.reading.Reading.validate_ranges`);
                     a signature that is not 65 bytes; a negative scale
``unregistered_device`` / ``device_revoked`` / ``calibration_expired`` / ``wrong_quantity``
                     from the device's registration (DeviceRegistry)
``bad_interval``     ``end <= start`` or longer than the quantity's longest interval
``in_future``        ends more than :data:`FUTURE_SKEW_S` after the node's clock
``implausible_value`` ``value × 10^scale`` outside the quantity's bounds (:mod:`oracles.quantities`)
``bad_signature``    the EIP-712 signature does not recover (OpenZeppelin ``ECDSA.recover``
                     rules) or recovers another address than the device's registered signer
==================== ==========================================================================

This module imports only ``ledger`` and :mod:`oracles.quantities`, so a worker process starts light.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ledger.crypto.primitives import InvalidSignature, recover_address_bytes
from ledger.meter_data.reading import digest_and_leaf_of_encoding, encode_reading_fields
from oracles.quantities import NODE_QUANTITIES as QUANTITIES

#: Readings may end at most this many seconds after the node's clock (clock skew allowance).
FUTURE_SKEW_S = 300

#: A reading as the checks take it: (device, sequence, start, end, quantityCode, value, scale, flags, signature).
ReadingRow = tuple[bytes, int, int, int, int, int, int, int, bytes]
#: What the checks need of a registered device: (signer address 20 bytes, quantity code,
#: calibrations ((validFrom, validUntil) UTC s inclusive, in time order), usable); None for an
#: unregistered device.
DeviceTerms = tuple[bytes, int, tuple[tuple[int, int], ...], bool]


def calibrated_over(calibrations: Sequence[tuple[int, int]], first: int, last: int) -> bool:
    """Whether one recorded calibration covers the measured seconds [first, last] — the latest that
    started at or before ``first`` must last through ``last`` (DeviceRegistry.requireUsableOver)."""
    for valid_from, valid_until in reversed(calibrations):
        if valid_from <= first:
            return last <= valid_until
    return False


def check_readings(domain_separator: bytes, now: int, expect_device: bytes | None,
                   devices: Mapping[bytes, DeviceTerms | None],
                   rows: Sequence[ReadingRow]) -> list[bytes | tuple[str, str]]:
    """Run the stateless checks (module doc) on every reading of ``rows``.

    Args:
        domain_separator: EIP-712 domain separator of the MeterDataAnchor deployment (32 bytes).
        now: the node's clock, UTC s.
        expect_device: the only device allowed (MQTT topic), or None.
        devices: the registration of every device in ``rows`` (missing or None: not registered).
        rows: the readings as :data:`ReadingRow` tuples.

    Returns one item per row, in order: the reading's 32-byte StandardMerkleTree leaf if it
    passed, else ``(reason, detail)``.
    """
    out: list[bytes | tuple[str, str]] = []
    append = out.append
    for row in rows:
        append(_check(domain_separator, now, expect_device, devices, row))
    return out


def _check(sep: bytes, now: int, expect_device: bytes | None, devices: Mapping[bytes, DeviceTerms | None],
           row: ReadingRow) -> bytes | tuple[str, str]:
    device, sequence, start, end, qc, value, scale, flags, signature = row
    if expect_device is not None and device != expect_device:
        return "malformed", f"reading of device 0x{device.hex()} sent for device 0x{expect_device.hex()}"
    try:
        encoding = encode_reading_fields(device, sequence, start, end, qc, value, scale, flags)
    except ValueError as exc:    # InvalidFieldError naming the field
        return "malformed", str(exc)
    if len(signature) != 65:
        return "malformed", f"signature must be 65 bytes, got {len(signature)}"
    info = devices.get(device)
    if info is None:
        return "unregistered_device", f"device 0x{device.hex()} is not registered"
    signer, quantity_code, calibrations, usable = info
    if not usable:
        return "device_revoked", f"device 0x{device.hex()} is revoked or its owner is not active"
    if end > start and not calibrated_over(calibrations, start, end - 1):   # end <= start: bad_interval below
        return "calibration_expired", (f"no recorded calibration covers [{start}, {end}) "
                                       f"(calibrations: {list(calibrations) or 'none'})")
    if qc != quantity_code:
        return "wrong_quantity", f"device measures quantity {quantity_code}, reading says {qc}"
    q = QUANTITIES.get(qc)
    if q is None:
        return "wrong_quantity", f"unknown quantityCode {qc}"
    if end <= start or end - start > q.max_interval_s:
        return "bad_interval", f"interval [{start}, {end}) must be 1..{q.max_interval_s} s long"
    if end > now + FUTURE_SKEW_S:
        return "in_future", f"reading ends at {end}, node clock is {now}"
    if scale < 0:
        return "malformed", f"scale {scale} < 0 is not supported for {q.unit}"
    physical = value * 10 ** scale if scale else value
    if not q.minimum <= physical <= q.maximum:
        return "implausible_value", f"{physical} {q.unit} outside [{q.minimum}, {q.maximum}]"
    digest, leaf = digest_and_leaf_of_encoding(sep, encoding, signature)
    try:
        got = recover_address_bytes(digest, signature)
    except InvalidSignature as exc:
        return "bad_signature", str(exc)
    if got != signer:
        return "bad_signature", f"signed by 0x{got.hex()}, device key is 0x{signer.hex()}"
    return leaf
