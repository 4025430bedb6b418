"""Identifiers of participants and devices.

* Unified social credit code (统一社会信用代码, USCC): 18 characters, GB 32100-2015. Character 18
  is a check character over the first 17 (weights 3^(i) mod 31, alphabet without I, O, S, V, Z);
  characters 9–17 are the organisation code of GB 11714-1997, whose own last character is a
  check character (weights 3,7,9,10,5,8,4,2; mod 11; 10 → ``X``).
* On-chain organisation id: keccak256("CarbonLedger org" ‖ USCC); the USCC itself is stored
  right-padded in a bytes32.
* Device id: keccak256("CarbonLedger device" ‖ owner USCC ‖ meter serial number).
"""

from __future__ import annotations

from ledger.crypto.primitives import keccak256

#: GB 32100-2015 code alphabet (31 characters: digits and capitals except I, O, S, V, Z).
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
_ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]
_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class InvalidUscc(ValueError):
    """A unified social credit code fails GB 32100-2015 (the message says which rule)."""


def organisation_code_check(body8: str) -> str:
    """GB 11714-1997 check character of an 8-character organisation code body."""
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(body8, _ORG_WEIGHTS))
    c = 11 - total % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def uscc_check(body17: str) -> str:
    """GB 32100-2015 check character of the first 17 USCC characters."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body17, _USCC_WEIGHTS))
    c = 31 - total % 31
    return USCC_ALPHABET[0 if c == 31 else c]


def make_uscc(authority: str, kind: str, division: str, org_body8: str) -> str:
    """Assemble a valid USCC from its parts (registration authority, type, 6-digit division code,
    8-character organisation code body); both check characters are computed."""
    body = authority + kind + division + org_body8
    bad = [c for c in body if c not in USCC_ALPHABET]
    if bad or len(body) != 16:
        raise InvalidUscc(f"USCC parts must be 16 characters of GB 32100-2015's alphabet; got {body!r} (bad: {''.join(bad)!r})")
    body += organisation_code_check(org_body8)
    return validate_uscc(body + uscc_check(body))


def validate_uscc(code: str) -> str:
    """Return ``code`` if it is a valid USCC.

    Raises:
        InvalidUscc: naming the failed rule (length, alphabet, organisation-code or USCC check).
    """
    if len(code) != 18:
        raise InvalidUscc(f"USCC must have 18 characters, got {len(code)}")
    bad = [c for c in code if c not in USCC_ALPHABET]
    if bad:
        raise InvalidUscc(f"USCC contains characters outside GB 32100-2015's alphabet: {''.join(bad)!r}")
    if organisation_code_check(code[8:16]) != code[16]:
        raise InvalidUscc("USCC characters 9-17 fail the GB 11714 organisation-code check")
    if uscc_check(code[:17]) != code[17]:
        raise InvalidUscc("USCC check character (18th) is wrong")
    return code


def uscc_bytes32(code: str) -> bytes:
    """The USCC right-padded into 32 bytes (as stored on-chain)."""
    return validate_uscc(code).encode().ljust(32, b"\0")


def org_id(code: str) -> bytes:
    """On-chain organisation id of the organisation with USCC ``code``."""
    return keccak256(b"CarbonLedger org" + validate_uscc(code).encode())


def device_id(owner_uscc: str, serial: str) -> bytes:
    """On-chain device id of the meter ``serial`` owned by the organisation ``owner_uscc``."""
    if not serial:
        raise ValueError("meter serial number must not be empty")
    return keccak256(b"CarbonLedger device" + validate_uscc(owner_uscc).encode() + b"/" + serial.encode())


def meter_serial_hash(serial: str) -> bytes:
    """Hash of a meter's serial number as DeviceRegistry keeps it unique across all owners
    (``registerDevice``'s ``serialHash``; issue 13: two enterprises cannot register one meter).

    The serial is trimmed and upper-cased, so ``" ab-1"`` and ``"AB-1"`` are the same meter.

    Raises:
        ValueError: empty serial.
    """
    s = serial.strip().upper()
    if not s:
        raise ValueError("meter serial number must not be empty")
    return keccak256(b"CarbonLedger meter serial/" + s.encode())
