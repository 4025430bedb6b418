"""Generate the typed contract bindings of ``ledger/contracts/_generated/`` from the compiled ABIs.

Run ``python -m ledger.contracts.codegen`` after changing a contract; ``--check`` exits 1 if a
committed file differs from what the current ABIs generate (tests/test_bindings.py asserts the
same, so an ABI change cannot go unnoticed).

For each contract of :data:`BOUND_CONTRACTS` one module ``_generated/<snake_name>.py`` holds:

* a frozen dataclass per struct the ABI uses (fields = the struct's members, in ABI order),
* a ``<Function>Result`` dataclass per function with several outputs (fields = output names),
* a frozen dataclass per event (fields = argument names; an indexed string/bytes/array/struct is
  the 32-byte keccak256 the topic holds, as the ABI specification says),
* ``<Contract>Functions``: one method per function returning a :class:`FunctionCall`,
* ``<Contract>``: the binding: ``deploy`` (constructor arguments typed), one method per view
  function (reads now, returns the decoded result) and per state-changing function (returns the
  :class:`Call` to send).

Names are the ABI's (camelCase, as in Solidity), a Python keyword (or an argument named like a
binding keyword: ``sender``, ``label``, ``gas``, ``block``) gets ``_`` appended, an
overloaded function gets its input types appended (``totalSupply_``, ``totalSupply_uint256``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from ledger.chain.abi import abi_type, signature
from ledger.contracts.binding import ContractBinding, py_name, struct_name
from ledger.contracts.compiler import REPO_ROOT, Artifact, compile_contracts

#: The contracts that get a binding (every deployed contract), in deployment order.
BOUND_CONTRACTS = ("ParticipantRegistry", "DeviceRegistry", "EmissionFactorRegistry", "MeterDataAnchor", "MeterRounds",
                   "EmissionsRegistry", "CarbonAssets", "CCERRegistry", "CashToken", "Settlement", "Allocation",
                   "Compliance", "EvidenceRegistry", "GenerationClaims", "GreenCertificates", "NeutralityClaims", "Constitution", "RegulatorCouncil")
#: Directory of the generated modules.
GENERATED_DIR = Path(__file__).resolve().parent / "_generated"
#: Names a generated method may not take (attributes of ContractBinding and keyword arguments).
_RESERVED = {n for n in dir(ContractBinding) if not n.startswith("__")} | {"client", "address", "functions",
                                                                            "sender", "label", "gas", "block"}


class CodegenError(RuntimeError):
    """An ABI cannot be bound mechanically (a name clash the generator does not resolve)."""


def snake(name: str) -> str:
    """Module name of a contract: ``CCERRegistry`` → ``ccer_registry``, ``MeterDataAnchor`` → ``meter_data_anchor``."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def _py_type(item: dict[str, Any], *, arg: bool = False) -> str:
    t = str(item["type"])
    if t.endswith("]"):
        inner = _py_type(dict(item, type=t[: t.rindex("[")], internalType=item.get("internalType", "")[:-2]), arg=arg)
        return f"Sequence[{inner}]" if arg else f"tuple[{inner}, ...]"
    if t == "tuple":
        return struct_name(item["internalType"])
    if t.startswith(("uint", "int")):
        return "int"
    if t == "bool":
        return "bool"
    if t in ("address", "string"):
        return "str"
    if t.startswith("bytes"):
        return "bytes"
    raise CodegenError(f"unsupported ABI type {t}")


def _structs(abi: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Struct name → its tuple ABI item, for every struct reachable from the ABI."""
    found: dict[str, dict[str, Any]] = {}

    def walk(item: dict[str, Any]) -> None:
        if str(item["type"]).startswith("tuple"):
            name = struct_name(item["internalType"])
            found.setdefault(name, dict(item, type="tuple", internalType=item["internalType"].split("[")[0]))
            for c in item["components"]:
                walk(c)

    for entry in abi:
        for i in entry.get("inputs", []) + entry.get("outputs", []):
            walk(i)
    return found


def _fields(items: list[dict[str, Any]], *, indexed_hash: bool = False) -> list[str]:
    lines = []
    for n, i in enumerate(items):
        hashed = indexed_hash and i.get("indexed") and (str(i["type"]) in ("string", "bytes") or
                                                         str(i["type"]).endswith("]") or str(i["type"]).startswith("tuple"))
        typ = "bytes" if hashed else _py_type(i)
        note = "  # keccak256 of the value (indexed)" if hashed else ""
        lines.append(f"    {py_name(i['name'], n)}: {typ}{note}")
    return lines or ["    pass"]


def _fn_names(functions: list[dict[str, Any]]) -> dict[str, str]:
    """Signature → Python method name (overloads get their input types appended)."""
    counts: dict[str, int] = {}
    for f in functions:
        counts[f["name"]] = counts.get(f["name"], 0) + 1
    out = {}
    for f in functions:
        sig = signature(f)
        name = f["name"]
        if counts[name] > 1:
            name += "_" + "_".join(re.sub(r"\W", "", abi_type(i)) for i in f["inputs"])
        if name in _RESERVED:
            raise CodegenError(f"function {sig} clashes with a binding attribute")
        out[sig] = name
    return out


def _result_name(fn: dict[str, Any]) -> str:
    return fn["name"][0].upper() + fn["name"][1:] + "Result"


def _return_type(fn: dict[str, Any]) -> str:
    outs = fn["outputs"]
    if not outs:
        return "None"
    if len(outs) == 1:
        return _py_type(outs[0])
    return _result_name(fn)


def _params(inputs: list[dict[str, Any]]) -> tuple[str, str]:
    names = [py_name(i["name"], n) for n, i in enumerate(inputs)]
    names = [n + "_" if n in _RESERVED else n for n in names]   # e.g. an argument called ``label``
    decl = "".join(f", {n}: {_py_type(i, arg=True)}" for n, i in zip(names, inputs))
    call = "(" + "".join(f"{n}, " for n in names).rstrip(", ") + ("," if len(names) == 1 else "") + ")"
    return decl, call


def generate(name: str, abi: list[dict[str, Any]], abi_sha256: str) -> str:
    """Source text of the binding module of contract ``name``.

    Raises:
        CodegenError: a name clash the rules above do not resolve.
    """
    structs = _structs(abi)
    functions = [i for i in abi if i.get("type") == "function"]
    events = [i for i in abi if i.get("type") == "event"]
    results = [f for f in functions if len(f["outputs"]) > 1]
    taken = set(structs)
    for cls in [_result_name(f) for f in results] + [e["name"] for e in events] + [name, name + "Functions"]:
        if cls in taken:
            raise CodegenError(f"{name}: class name {cls} is used twice")
        taken.add(cls)
    names = _fn_names(functions)
    out: list[str] = [
        f'"""Typed binding of {name}, generated by ``python -m ledger.contracts.codegen`` from its ABI — do not edit.',
        "",
        f"ABI sha256: {abi_sha256}",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import json",
        "from collections.abc import Sequence",
        "from dataclasses import dataclass",
        "from typing import Any, ClassVar",
        "",
        "from ledger.chain.client import Call, ChainClient",
        "from ledger.contracts.binding import ContractBinding, Event, FunctionCall, Struct, encode_call",
        "",
        "ABI: list[dict[str, Any]] = json.loads(r'''[",
        ",\n".join(json.dumps(i, sort_keys=True) for i in abi),
        "]''')",
        "_FN: dict[str, dict[str, Any]] = {",
    ]
    out += [f"    {signature(f)!r}: ABI[{abi.index(f)}]," for f in functions]
    out += ["}", "", ""]
    for sname in sorted(structs):
        item = structs[sname]
        out += ["@dataclass(frozen=True)", f"class {sname}(Struct):", f'    """``{item["internalType"]}``."""', ""]
        out += _fields(item["components"]) + ["", ""]
    for f in results:
        out += ["@dataclass(frozen=True)", f"class {_result_name(f)}(Struct):",
                f'    """Outputs of ``{signature(f)}``."""', ""]
        out += _fields(f["outputs"]) + ["", ""]
    out += ["STRUCTS: dict[str, type[Struct]] = {"]
    out += [f"    {c!r}: {c}," for c in sorted(structs)]
    out += ["}", "", ""]
    for e in events:
        out += ["@dataclass(frozen=True)", f"class {e['name']}(Event):", f'    """Event ``{signature(e)}``."""', "",
                f"    ABI: ClassVar[dict[str, Any]] = ABI[{abi.index(e)}]",
                "    STRUCTS: ClassVar[dict[str, type[Struct]]] = STRUCTS", ""]
        out += _fields(e["inputs"], indexed_hash=True) + ["", ""]
    out += ["EVENTS: dict[str, type[Event]] = {"]
    out += [f"    {e['name']!r}: {e['name']}," for e in events]
    out += ["}", "", ""]
    out += [f"class {name}Functions:",
            f'    """Bound functions of one {name}: each returns the :class:`FunctionCall` that',
            '    ``ChainClient.call``/``call_many`` read and ``Call.of`` sends."""', "",
            "    def __init__(self, address: str) -> None:", "        self.address = address"]
    for f in functions:
        decl, call = _params(f["inputs"])
        res = f", {_result_name(f)}" if len(f["outputs"]) > 1 else ""
        out += ["", f"    def {names[signature(f)]}(self{decl}) -> FunctionCall[{_return_type(f)}]:",
                f'        """``{signature(f)}`` ({f["stateMutability"]})."""',
                f"        return encode_call(self.address, _FN[{signature(f)!r}], {call}, STRUCTS{res})"]
    out += ["", ""]
    ctor = next((i for i in abi if i.get("type") == "constructor"), {"inputs": []})
    decl, call = _params(ctor["inputs"])
    out += [f"class {name}(ContractBinding):",
            f'    """{name} at ``address``: views read now; transactions return the :class:`Call` to send."""', "",
            f"    NAME: ClassVar[str] = {name!r}",
            "    ABI: ClassVar[list[dict[str, Any]]] = ABI",
            "    STRUCTS: ClassVar[dict[str, type[Struct]]] = STRUCTS",
            "    EVENTS: ClassVar[dict[str, type[Event]]] = EVENTS", "",
            "    def __init__(self, client: ChainClient, address: str) -> None:",
            "        super().__init__(client, address)",
            f"        self.functions = {name}Functions(self.address)", "",
            "    @classmethod",
            f"    def deploy(cls, client: ChainClient, sender: str, bytecode: str{decl}, *,",
            f"               label: str | None = None) -> {name}:",
            f'        """Deploy {name} from ``sender`` with its creation ``bytecode``; the bound instance."""',
            f"        return cls._deploy(client, sender, bytecode, {call}, label)  # type: ignore[no-any-return]"]
    for f in functions:
        decl, call = _params(f["inputs"])
        m = names[signature(f)]
        if f["stateMutability"] in ("view", "pure"):
            out += ["", f'    def {m}(self{decl}, *, block: str = "latest") -> {_return_type(f)}:',
                    f'        """Read ``{signature(f)}``."""',
                    f"        return self.client.call(self.functions.{m}{call.replace(',)', ')')}, block=block)"]
        else:
            out += ["", f"    def {m}(self{decl}, *, sender: str, label: str | None = None, gas: int | None = None) -> Call:",
                    f'        """The transaction ``{signature(f)}`` from ``sender``."""',
                    f"        return Call.of(self.functions.{m}{call.replace(',)', ')')}, sender, label, gas)"]
    text = "\n".join(out) + "\n"
    if "Sequence[" not in text:
        text = text.replace("from collections.abc import Sequence\n", "")
    return text


def expected_files(artifacts: dict[str, Artifact]) -> dict[Path, str]:
    """Path → source text of every generated module (and the package's ``__init__``)."""
    files = {GENERATED_DIR / f"{snake(n)}.py": generate(n, artifacts[n].abi, artifacts[n].abi_sha256)
             for n in BOUND_CONTRACTS}
    init = ['"""Typed contract bindings generated from the ABIs by ``python -m ledger.contracts.codegen`` — do not edit."""',
            "", "from __future__ import annotations", ""]
    init += sorted(f"from ledger.contracts._generated.{snake(n)} import {n}" for n in BOUND_CONTRACTS)
    init += ["", "__all__ = [" + ", ".join(repr(n) for n in BOUND_CONTRACTS) + "]"]
    files[GENERATED_DIR / "__init__.py"] = "\n".join(init) + "\n"
    return files


def stale_files(artifacts: dict[str, Artifact]) -> list[Path]:
    """Generated files that are missing or differ from what ``artifacts`` generate."""
    return [p for p, text in expected_files(artifacts).items() if not p.exists() or p.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    """Command line: write the generated modules (or, with ``--check``, list stale ones and exit 1)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that the committed files are current")
    args = ap.parse_args(argv)
    artifacts = compile_contracts(REPO_ROOT, REPO_ROOT / ".carbonledger" / "build")
    if args.check:
        stale = stale_files(artifacts)
        for p in stale:
            print(f"stale: {p.relative_to(REPO_ROOT)}")
        return 1 if stale else 0
    GENERATED_DIR.mkdir(exist_ok=True)
    for p, text in expected_files(artifacts).items():
        if not p.exists() or p.read_text() != text:
            p.write_text(text)
            print(f"wrote {p.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
