"""Solidity ABI helpers shared by the chain client, the indexer and the contract bindings.

The one place that spells an ABI item's canonical type (``abi_type``), a function's or event's
signature and selector, and that decodes a log's topics and data by the event's argument names
(Solidity ABI specification, "Events": indexed arguments of non-value types are stored as the
keccak256 of their encoding, so they decode to that 32-byte hash).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi import decode as abi_decode

from ledger.crypto.primitives import keccak256


def abi_type(item: dict[str, Any]) -> str:
    """Canonical ABI type of an ABI input/output item, tuples spelled out
    (``{"type": "tuple[]", "components": [uint64, bytes32]}`` → ``(uint64,bytes32)[]``)."""
    t = str(item["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in item["components"]) + ")" + t[5:]
    return t


def signature(item: dict[str, Any]) -> str:
    """Canonical signature of a function, event or error ABI entry, e.g. ``batch(uint256)``."""
    return f"{item['name']}({','.join(abi_type(i) for i in item.get('inputs', []))})"


def selector(item: dict[str, Any]) -> bytes:
    """4-byte selector of a function or error ABI entry (keccak256 of its signature)."""
    return keccak256(signature(item).encode())[:4]


def event_topic(item: dict[str, Any]) -> bytes:
    """topic0 of a (non-anonymous) event ABI entry: keccak256 of its signature."""
    return keccak256(signature(item).encode())


def hashed_when_indexed(item: dict[str, Any]) -> bool:
    """True for argument types whose topic holds keccak256 of the value (strings, bytes, arrays, tuples)."""
    t = str(item["type"])
    return t in ("string", "bytes") or t.endswith("]") or t.startswith("tuple")


def as_bytes(value: str | bytes) -> bytes:
    """Bytes of a 0x-hex string (JSON-RPC) or of bytes-like values (HexBytes)."""
    if isinstance(value, str):
        return bytes.fromhex(value[2:] if value.startswith("0x") else value)
    return bytes(value)


def decode_log_values(event: dict[str, Any], topics: Sequence[str | bytes], data: str | bytes) -> dict[str, Any]:
    """Raw decoded values of one log of ``event`` by argument name, in ABI order.

    Args:
        event: the event's ABI entry; topics: the log's topics, topic0 first (hex or bytes);
            data: the log's data (hex or bytes).

    Returns:
        ``{argument name: eth_abi value}``; indexed non-value arguments are their 32-byte hash.

    Raises:
        ValueError: the topic count does not fit the ABI, or the data does not decode.
    """
    indexed = [i for i in event["inputs"] if i.get("indexed")]
    plain = [i for i in event["inputs"] if not i.get("indexed")]
    if len(topics) != len(indexed) + 1:
        raise ValueError(f"{event['name']}: log has {len(topics) - 1} indexed topics, the ABI {len(indexed)}")
    out: dict[str, Any] = {}
    try:
        for item, topic in zip(indexed, topics[1:]):
            raw = as_bytes(topic)
            out[item["name"]] = raw if hashed_when_indexed(item) else abi_decode([abi_type(item)], raw)[0]
        values = abi_decode([abi_type(i) for i in plain], as_bytes(data)) if plain else ()
    except Exception as exc:  # noqa: BLE001 - eth_abi raises several types; name the event
        raise ValueError(f"{event['name']}: cannot decode log: {exc}") from exc
    for item, v in zip(plain, values):
        out[item["name"]] = v
    return {i["name"]: out[i["name"]] for i in event["inputs"]}
