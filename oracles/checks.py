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

import json
from collections.abc import Mapping, Sequence

from ledger.crypto.primitives import InvalidSignature, recover_address_bytes
from ledger.meter_data.reading import digest_and_leaf_of_encoding, encode_reading_fields
from oracles.quantities import NODE_QUANTITIES as QUANTITIES

#: The keys of a reading on the wire (``POST /v1/readings``, api.schemas.SignedReadingIn), exactly.
WIRE_KEYS = frozenset(("device", "sequence", "start", "end", "quantityCode", "value", "scale", "flags", "signature"))
#: Integer bounds of the wire schema (``value``: int64..uint64; pydantic handles anything wider).
_LO, _HI = -(2**63), 2**64 - 1

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


def parse_wire_readings(items: object) -> list[ReadingRow] | None:
    """The readings of a decoded ``POST /v1/readings`` list as :data:`ReadingRow` tuples, or None
    when it is not in the plain form (the caller then validates the body with the pydantic schema,
    which gives the 422 problem naming the field).

    Accepts exactly a list of dicts with the nine :data:`WIRE_KEYS`, ``device`` "0x" + 64 hex
    digits, ``signature`` "0x" + 130 hex digits, every other field a plain ``int`` (not bool) in
    its schema range; every list it accepts, ``api.schemas.ReadingsIn`` accepts with the same
    values (tests/test_bench.py). The length of the list is the caller's to bound.
    """
    if type(items) is not list:
        return None
    out: list[ReadingRow] = []
    append = out.append
    keys = WIRE_KEYS
    lo, hi = _LO, _HI
    for d in items:
        if type(d) is not dict or d.keys() != keys:
            return None
        seq, start, end, qc, value, scale, flags = (d["sequence"], d["start"], d["end"], d["quantityCode"], d["value"],
                                                    d["scale"], d["flags"])
        if not (type(seq) is int and type(start) is int and type(end) is int and type(qc) is int and type(value) is int
                and type(scale) is int and type(flags) is int):
            return None
        if not (0 <= seq <= hi and 0 <= start <= hi and 0 <= end <= hi and 0 <= qc <= 65535 and lo <= value <= hi
                and -128 <= scale <= 127 and 0 <= flags <= 4294967295):
            return None
        dev_hex, sig_hex = d["device"], d["signature"]
        if not (type(dev_hex) is str and len(dev_hex) == 66 and dev_hex.startswith("0x")
                and type(sig_hex) is str and len(sig_hex) == 132 and sig_hex.startswith("0x")):
            return None
        try:
            device = bytes.fromhex(dev_hex[2:])
            signature = bytes.fromhex(sig_hex[2:])
        except ValueError:
            return None
        if len(device) != 32 or len(signature) != 65:     # fromhex skips whitespace: a short result had some
            return None
        append((device, seq, start, end, qc, value, scale, flags, signature))
    return out


def check_wire_piece(domain_separator: bytes, now: int, expect_device: bytes | None,
                     devices: Mapping[bytes, DeviceTerms | None],
                     piece: bytes) -> tuple[list[ReadingRow], list[bytes | tuple[str, str]]] | None:
    """Decode, parse and check one piece of a ``POST /v1/readings`` body in one pass — what an
    oracle node's worker processes do with the raw bytes, so that JSON decoding and parsing use
    every core too (issue 14).

    Args:
        domain_separator, now, expect_device: as :func:`check_readings`.
        devices: the registration of every device the body names (looked up by the node).
        piece: ``{...},{...}`` — consecutive items of the body's ``readings`` list, without brackets
            (:func:`split_wire_items`).

    Returns ``(rows, verdicts)`` (:func:`parse_wire_readings`, :func:`check_readings`), or None if
    the piece is not plain JSON readings or names a device not in ``devices`` (the node then takes
    the body through the ordinary path: decode, pydantic validation, :meth:`OracleNode.ingest`).
    """
    try:
        items = json.loads(b"[" + piece + b"]")
    except (ValueError, UnicodeDecodeError):
        return None
    rows = parse_wire_readings(items)
    if rows is None or not rows:
        return None
    for row in rows:
        if row[0] not in devices:
            return None
    return rows, check_readings(domain_separator, now, expect_device, devices, rows)


#: The exact opening and closing of a plain ``POST /v1/readings`` body (compact JSON).
WIRE_HEAD, WIRE_TAIL = b'{"readings":[', b"]}"


def split_wire_items(body: bytes, parts: int) -> list[bytes] | None:
    """Cut a compact ``{"readings":[{...},...]}`` body into at most ``parts`` pieces of whole items
    (cut between ``}`` and ``,{``), or None if the body does not have that exact opening and
    closing. A cut inside a string value cannot produce pieces that all parse as plain readings
    (:func:`check_wire_piece` returns None for such a piece), so a mis-cut only costs the ordinary path.
    """
    if not (body.startswith(WIRE_HEAD) and body.endswith(WIRE_TAIL)) or len(body) <= len(WIRE_HEAD) + len(WIRE_TAIL):
        return None
    inner = body[len(WIRE_HEAD):-len(WIRE_TAIL)]
    cuts = [0]
    for i in range(1, parts):
        j = inner.find(b"},{", max(len(inner) * i // parts, cuts[-1]))
        if j < 0:
            break
        cuts.append(j + 1)
    cuts.append(len(inner))
    pieces = []
    for a, b in zip(cuts, cuts[1:]):
        piece = inner[a:b]
        if piece.startswith(b","):
            piece = piece[1:]
        pieces.append(piece)
    return pieces
