"""Runtime of the generated contract bindings (``ledger/contracts/_generated/``).

A binding is bound to a chain client and an address. For each contract function it offers:

* ``binding.functions.<name>(*args)`` → :class:`FunctionCall` (calldata + how to decode the
  result), which :meth:`ChainClient.call`, :meth:`ChainClient.call_many` (one JSON-RPC batch)
  and :meth:`Call.of` accept;
* for a view function, ``binding.<name>(*args)`` → the decoded result, read now;
* for a state-changing function, ``binding.<name>(*args, sender=…)`` → a :class:`Call` to
  pass to :meth:`ChainClient.send` (so many calls go out in one batch).

Results are decoded by the ABI's names: a struct becomes its frozen dataclass (fields named as the
Solidity struct's members), several named outputs become the function's ``<Name>Result``
dataclass, arrays become tuples, addresses are EIP-55 strings. Events decode the same way
(:meth:`ContractBinding.decode_events`, :meth:`ContractBinding.get_logs`).
"""

from __future__ import annotations

import dataclasses
import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address

from ledger.chain.abi import abi_type, as_bytes, decode_log_values, event_topic, hashed_when_indexed, selector
from ledger.chain.client import Call, ChainClient, TxResult

T = TypeVar("T")
E = TypeVar("E", bound="Event")


class Struct:
    """Base of the generated struct and result dataclasses (frozen, fields in ABI order)."""

    def as_dict(self) -> dict[str, Any]:
        """Fields by name (nested structs as dicts); values as decoded."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def as_json(self) -> dict[str, Any]:
        """Fields by name, JSON-ready: bytes as 0x hex, nested structs as dicts, tuples as lists."""
        return {f.name: json_ready(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


class Event(Struct):
    """Base of the generated event dataclasses; ``ABI`` is the event's ABI entry."""

    ABI: ClassVar[dict[str, Any]]
    STRUCTS: ClassVar[dict[str, type[Struct]]]

    @classmethod
    def topic(cls) -> bytes:
        """topic0 of the event (keccak256 of its signature)."""
        return event_topic(cls.ABI)

    @classmethod
    def decode(cls: type[E], log: dict[str, Any]) -> E:
        """Decode one log (JSON-RPC shape: ``topics``, ``data`` as hex or bytes) by argument name.

        Raises:
            ValueError: the log is not this event or does not decode.
        """
        topics = log["topics"]
        if not topics or as_bytes(topics[0]) != cls.topic():
            raise ValueError(f"log is not a {cls.ABI['name']} event")
        values = decode_log_values(cls.ABI, topics, log["data"])
        return cls(**{py_name(i["name"], n): (v if i.get("indexed") and hashed_when_indexed(i)
                                              else to_python(v, i, cls.STRUCTS))
                      for n, (i, v) in enumerate(zip(cls.ABI["inputs"], values.values()))})


@dataclass(frozen=True)
class EventLog(Generic[E]):
    """A decoded event with where it was logged."""

    event: E
    address: str
    block_number: int
    tx_hash: str
    log_index: int


def py_name(name: str, index: int = 0) -> str:
    """Python name of an ABI argument, member or output: the ABI name, ``_`` appended to a Python
    keyword (``from`` → ``from_``), ``arg<index>`` for an unnamed one."""
    if not name:
        return f"arg{index}"
    return name + "_" if keyword.iskeyword(name) else name


def json_ready(value: Any) -> Any:
    """A decoded value as JSON: bytes → 0x hex, structs → dicts, tuples → lists."""
    if isinstance(value, Struct):
        return value.as_json()
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (tuple, list)):
        return [json_ready(v) for v in value]
    return value


def struct_name(internal_type: str) -> str:
    """Python class name of a struct from its ABI ``internalType`` (``struct C.Batch[]`` → ``Batch``)."""
    return internal_type.removeprefix("struct ").split(".")[-1].split("[")[0]


def to_python(value: Any, item: dict[str, Any], structs: dict[str, type[Struct]]) -> Any:
    """An eth_abi value of ABI ``item`` as the binding's type (structs by name, tuples for arrays,
    EIP-55 addresses)."""
    t = str(item["type"])
    if t.endswith("]"):
        inner = dict(item, type=t[: t.rindex("[")])
        return tuple(to_python(v, inner, structs) for v in value)
    if t == "tuple":
        cls = structs[struct_name(item["internalType"])]
        return cls(**{py_name(c["name"], n): to_python(v, c, structs)
                      for n, (c, v) in enumerate(zip(item["components"], value))})
    if t == "address":
        return to_checksum_address(value)
    if isinstance(value, bytearray):
        return bytes(value)
    return value


def _member(value: Any, name: str) -> Any:
    """Member ``name`` of a dataclass by its ABI name, or by its snake_case spelling (so a Python
    mirror such as ``ledger.meter_data.reading.BatchReport`` with ``total_wh`` encodes as the
    struct's ``totalWh``).

    Raises:
        TypeError: the dataclass has neither spelling.
    """
    if hasattr(value, name):
        return getattr(value, name)
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    if hasattr(value, snake):
        return getattr(value, snake)
    raise TypeError(f"{type(value).__name__} has no member {name!r} (or {snake!r})")


def to_abi(value: Any, item: dict[str, Any]) -> Any:
    """A binding value (struct dataclass — members by ABI name or its snake_case —, dict by name,
    sequence, scalar) as eth_abi expects it for ABI ``item``.

    Raises:
        TypeError: a struct argument is neither its dataclass nor a sequence of its members.
    """
    t = str(item["type"])
    if t.endswith("]"):
        inner = dict(item, type=t[: t.rindex("[")])
        return [to_abi(v, inner) for v in value]
    if t == "tuple":
        comps = item["components"]
        if dataclasses.is_dataclass(value):
            return tuple(to_abi(_member(value, py_name(c["name"], n)), c) for n, c in enumerate(comps))
        if isinstance(value, dict):
            return tuple(to_abi(value[c["name"]], c) for c in comps)
        if isinstance(value, (tuple, list)) and len(value) == len(comps):
            return tuple(to_abi(v, c) for v, c in zip(value, comps))
        raise TypeError(f"{item.get('name') or 'argument'}: expected {struct_name(item.get('internalType', 'tuple'))}, "
                        f"got {type(value).__name__}")
    if t == "address" and isinstance(value, str):
        return to_checksum_address(value)
    return value


@dataclass(frozen=True)
class FunctionCall(Generic[T]):
    """One contract function with its arguments bound: calldata and the decoder of its result.

    Attributes:
        address: the contract's address; fn_name: the function's name; data: calldata
            (selector + ABI-encoded arguments); abi: the function's ABI entry.
    """

    address: str
    fn_name: str
    data: bytes
    abi: dict[str, Any] = field(repr=False)
    structs: dict[str, type[Struct]] = field(repr=False)
    result: type[Struct] | None = field(default=None, repr=False)

    def decode(self, raw: bytes) -> T:
        """Decode the function's return data: one output → its value, several → the result dataclass."""
        outs = self.abi["outputs"]
        values = abi_decode([abi_type(o) for o in outs], raw)
        if len(outs) == 1:
            return to_python(values[0], outs[0], self.structs)  # type: ignore[no-any-return]
        if self.result is None:
            return tuple(to_python(v, o, self.structs) for v, o in zip(values, outs))  # type: ignore[return-value]
        return self.result(**{py_name(o["name"], n): to_python(v, o, self.structs)
                              for n, (o, v) in enumerate(zip(outs, values))})  # type: ignore[return-value]


def encode_call(address: str, abi: dict[str, Any], args: Sequence[Any], structs: dict[str, type[Struct]],
                result: type[Struct] | None = None) -> FunctionCall[Any]:
    """Bind ``args`` to the function ``abi`` of the contract at ``address``.

    Raises:
        TypeError: wrong number of arguments or a struct argument of the wrong shape.
    """
    inputs = abi["inputs"]
    if len(args) != len(inputs):
        raise TypeError(f"{abi['name']} takes {len(inputs)} arguments, got {len(args)}")
    data = selector(abi) + abi_encode([abi_type(i) for i in inputs], [to_abi(a, i) for a, i in zip(args, inputs)])
    return FunctionCall(address, abi["name"], data, abi, structs, result)


class ContractBinding:
    """Base of the generated bindings: a contract at ``address`` reached through ``client``.

    Class attributes (generated): ``NAME`` (contract name), ``ABI`` (the ABI), ``STRUCTS``
    (struct class by name), ``EVENTS`` (event class by name).
    """

    NAME: ClassVar[str]
    ABI: ClassVar[list[dict[str, Any]]]
    STRUCTS: ClassVar[dict[str, type[Struct]]]
    EVENTS: ClassVar[dict[str, type[Event]]]

    def __init__(self, client: ChainClient, address: str) -> None:
        self.client = client
        self.address = to_checksum_address(address)
        client.register_errors(self.ABI)

    def __repr__(self) -> str:
        return f"{self.NAME}({self.address})"

    @property
    def abi(self) -> list[dict[str, Any]]:
        """The contract's ABI (the JSON entries the binding was generated from)."""
        return self.ABI

    @classmethod
    def _deploy(cls, client: ChainClient, sender: str, bytecode: str, args: Sequence[Any], label: str | None) -> Any:
        ctor = next((i for i in cls.ABI if i.get("type") == "constructor"), {"inputs": []})
        if len(args) != len(ctor["inputs"]):
            raise TypeError(f"{cls.NAME} constructor takes {len(ctor['inputs'])} arguments, got {len(args)}")
        data = as_bytes(bytecode) + abi_encode([abi_type(i) for i in ctor["inputs"]],
                                                [to_abi(a, i) for a, i in zip(args, ctor["inputs"])])
        client.register_errors(cls.ABI)
        r = client.send([Call(to_checksum_address(sender), None, data, label or f"deploy {cls.NAME}")])[0]
        if not r.contract_address:
            raise RuntimeError(f"deploy {cls.NAME}: receipt names no contract address")
        return cls(client, r.contract_address)

    def decode_input(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """The function a transaction's calldata calls and its arguments by name (binding types).

        Raises:
            ValueError: no function of this contract has the selector, or the arguments do not decode.
        """
        fn = next((i for i in self.ABI if i.get("type") == "function" and selector(i) == data[:4]), None)
        if fn is None:
            raise ValueError(f"{self.NAME} has no function with selector 0x{data[:4].hex()}")
        try:
            values = abi_decode([abi_type(i) for i in fn["inputs"]], data[4:])
        except Exception as exc:  # noqa: BLE001 - eth_abi raises several types
            raise ValueError(f"{fn['name']}: arguments do not decode: {exc}") from None
        return fn["name"], {py_name(i["name"], n): to_python(v, i, self.STRUCTS)
                            for n, (i, v) in enumerate(zip(fn["inputs"], values))}

    def decode_events(self, result: TxResult, event: type[E] | str) -> list[Any]:
        """The ``event`` logs (class or name) this contract emitted in a mined transaction, decoded.

        Raises:
            KeyError: the contract has no event of that name.
        """
        cls = self.EVENTS[event] if isinstance(event, str) else event
        topic = cls.topic()
        return [cls.decode(log) for log in result.receipt["logs"]
                if to_checksum_address(log["address"]) == self.address and log["topics"]
                and as_bytes(log["topics"][0]) == topic]

    def get_logs(self, event: type[E] | str, from_block: int, to_block: int | str = "latest",
                 **indexed: Any) -> list[EventLog[Any]]:
        """``eth_getLogs`` of one event of this contract, filtered by indexed arguments by name
        (value-type arguments only), decoded.

        Raises:
            KeyError: unknown event; ValueError: a filter names an argument that is not indexed.
        """
        cls = self.EVENTS[event] if isinstance(event, str) else event
        items = [i for i in cls.ABI["inputs"] if i.get("indexed")]
        topics: list[Any] = ["0x" + cls.topic().hex()]
        known = {i["name"] for i in items}
        if set(indexed) - known:
            raise ValueError(f"{cls.ABI['name']}: not indexed: {sorted(set(indexed) - known)}")
        for i in items:
            v = indexed.get(i["name"])
            topics.append(None if v is None else "0x" + abi_encode([abi_type(i)], [to_abi(v, i)]).hex())
        while topics and topics[-1] is None:
            topics.pop()
        logs = self.client.rpc("eth_getLogs", {"address": self.address, "topics": topics,
                                               "fromBlock": hex(from_block),
                                               "toBlock": to_block if isinstance(to_block, str) else hex(to_block)})
        return [EventLog(cls.decode(lg), to_checksum_address(lg["address"]), int(lg["blockNumber"], 16),
                         lg["transactionHash"], int(lg["logIndex"], 16)) for lg in logs]
