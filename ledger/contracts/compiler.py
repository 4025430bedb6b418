"""Compile the CarbonLedger Solidity sources with the pinned solc-js compiler.

The compiler is the npm package ``solc`` (solc-js, the official compiler built to WebAssembly)
behind a ``solc``-compatible command, ``scripts/solc`` (DESIGN.md §3 "Solidity compiler": no
native solc can be installed here). py-solc-x drives it through ``compile_standard`` with
``solc_binary=``. Settings are pinned (DESIGN.md §3): solc 0.8.28, optimizer on with 200 runs,
``evmVersion: "paris"`` (no PUSH0, which Besu networks without Shanghai refuse), legacy codegen
(``viaIR: false``).

Outputs are cached in ``cache_dir`` under the sha256 of (every project source + the OpenZeppelin
sources it can import + settings + compiler version), so a second call with unchanged inputs
reads one JSON file and never starts the compiler.

Run ``python -m ledger.contracts.compiler`` to compile and print sizes and timings.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from solcx import compile_standard
from solcx.exceptions import SolcError
from solcx.wrapper import get_version_str_from_solc_binary

logger = logging.getLogger(__name__)

#: Pinned compiler version (DESIGN.md §3: pin one compiler version; 0.8.28 = npm solc@0.8.28).
SOLC_VERSION = "0.8.28"
#: EVM version: ``paris`` = pre-Shanghai, so no PUSH0 (DESIGN.md §3).
EVM_VERSION = "paris"
#: Optimizer runs (the solc default, a balance of deployment and call cost).
OPTIMIZER_RUNS = 200
#: Largest deployed code size accepted by EIP-170 (Spurious Dragon), bytes.
MAX_DEPLOYED_CODE_SIZE = 24_576
#: Bumped whenever the cache file layout changes, so old caches are ignored.
_CACHE_FORMAT = 1

#: Repository root (this file is ledger/compiler.py).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Default compiler command: the solc-js shim of this repository.
DEFAULT_SOLC_BINARY = REPO_ROOT / "scripts" / "solc"

#: Standard JSON settings (DESIGN.md §3 and docs/tasks: optimizer 200 runs, paris, legacy codegen).
COMPILER_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
    "evmVersion": EVM_VERSION,
    "viaIR": False,
    "metadata": {"bytecodeHash": "ipfs"},
}
_OUTPUT_SELECTION = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"]

_PUSH0 = 0x5F
_PUSH1 = 0x60
_PUSH32 = 0x7F


class CompilationError(Exception):
    """The Solidity sources did not compile, or the compiler is not the pinned one.

    ``errors`` holds solc's error entries (Standard JSON ``errors`` items) when available.
    """

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors: list[dict[str, Any]] = errors or []


class Push0Error(CompilationError):
    """Bytecode contains the PUSH0 opcode (0x5f), which pre-Shanghai networks refuse."""


@dataclass(frozen=True, slots=True)
class Artifact:
    """One compiled contract.

    Attributes:
        name: contract name (e.g. ``"MeterDataAnchor"``).
        abi: the ABI as a list of JSON entries.
        bytecode: creation bytecode, ``0x``-prefixed hex.
        deployed_bytecode: runtime bytecode, ``0x``-prefixed hex (immutables as zeros).
        bytecode_sha256: sha256 hex of the creation bytecode bytes.
        abi_sha256: sha256 hex of the ABI as canonical JSON (sorted keys, no whitespace).
        source: source unit name, e.g. ``"contracts/MeterDataAnchor.sol"``.
        metadata: the compiler's metadata JSON string.
    """

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    bytecode_sha256: str
    abi_sha256: str
    source: str = ""
    metadata: str = ""

    @property
    def deployed_size(self) -> int:
        """Runtime code size in bytes."""
        return (len(self.deployed_bytecode) - 2) // 2


@functools.lru_cache(maxsize=8)
def _version_of(solc_binary: str) -> str:
    try:
        return get_version_str_from_solc_binary(solc_binary)
    except (OSError, subprocess.SubprocessError, SolcError) as exc:
        raise CompilationError(f"cannot run solc at {solc_binary}: {exc}") from exc


def compiler_version(solc_binary: Path | str = DEFAULT_SOLC_BINARY) -> str:
    """Version reported by the compiler command, e.g. ``"0.8.28+commit.7893614a"``.

    Runs ``<solc_binary> --version`` once per binary (cached for the process).

    Raises:
        CompilationError: if the command cannot be run or prints no version.
    """
    return _version_of(str(solc_binary))


def _require_pinned_version(solc_binary: Path | str) -> str:
    version = compiler_version(solc_binary)
    if version.split("+", 1)[0] != SOLC_VERSION:
        raise CompilationError(
            f"solc at {solc_binary} reports version {version}; CarbonLedger is pinned to "
            f"{SOLC_VERSION} (ledger/compiler.py SOLC_VERSION)"
        )
    return version


def _project_sources(project_root: Path) -> dict[str, str]:
    contracts_dir = project_root / "contracts"
    files = sorted(p for p in contracts_dir.rglob("*.sol") if p.is_file())
    if not files:
        raise CompilationError(f"no Solidity sources under {contracts_dir}")
    return {p.relative_to(project_root).as_posix(): p.read_text(encoding="utf-8") for p in files}


def _dependency_fingerprint(solc_binary: Path) -> str:
    """sha256 over the OpenZeppelin sources and solc-js package the shim resolves."""
    node_modules = solc_binary.resolve().parent.parent / "node_modules"
    h = hashlib.sha256()
    oz = node_modules / "@openzeppelin" / "contracts"
    for p in sorted(oz.rglob("*.sol")) if oz.is_dir() else []:
        h.update(p.relative_to(node_modules).as_posix().encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    for pkg in (node_modules / "solc" / "package.json", oz / "package.json"):
        if pkg.is_file():
            h.update(pkg.read_bytes())
    return h.hexdigest()


def _standard_input(sources: dict[str, str]) -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {name: {"content": content} for name, content in sources.items()},
        "settings": {
            **COMPILER_SETTINGS,
            "outputSelection": {name: {"*": list(_OUTPUT_SELECTION)} for name in sources},
        },
    }


def _cache_key(standard_input: dict[str, Any], dependency_fingerprint: str) -> str:
    payload = json.dumps(
        {
            "format": _CACHE_FORMAT,
            "version": SOLC_VERSION,
            "input": standard_input,
            "dependencies": dependency_fingerprint,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _format_errors(errors: list[dict[str, Any]]) -> str:
    return "\n".join(
        (e.get("formattedMessage") or e.get("message") or json.dumps(e)).rstrip() for e in errors
    )


def _hex(obj: str) -> str:
    return "0x" + obj if not obj.startswith("0x") else obj


def _sha256_hex_of_code(code_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(code_hex[2:])).hexdigest()


def abi_sha256(abi: list[dict[str, Any]]) -> str:
    """sha256 hex of an ABI serialised as canonical JSON (sorted keys, no whitespace)."""
    return hashlib.sha256(
        json.dumps(abi, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _artifacts_from_output(output: dict[str, Any], sources: dict[str, str]) -> dict[str, Artifact]:
    artifacts: dict[str, Artifact] = {}
    for source_name in sources:
        for name, out in output.get("contracts", {}).get(source_name, {}).items():
            if name in artifacts:
                raise CompilationError(
                    f"contract name {name} is defined in both {artifacts[name].source} and "
                    f"{source_name}; artifact names must be unique"
                )
            bytecode = _hex(out["evm"]["bytecode"]["object"])
            deployed = _hex(out["evm"]["deployedBytecode"]["object"])
            if "__$" in bytecode:
                raise CompilationError(f"{name} needs linked libraries, which are not supported")
            abi = out["abi"]
            artifacts[name] = Artifact(
                name=name,
                abi=abi,
                bytecode=bytecode,
                deployed_bytecode=deployed,
                bytecode_sha256=_sha256_hex_of_code(bytecode),
                abi_sha256=abi_sha256(abi),
                source=source_name,
                metadata=out.get("metadata", ""),
            )
    return artifacts


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_cache(path: Path) -> dict[str, Artifact] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {name: Artifact(**fields) for name, fields in data["artifacts"].items()}
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        logger.warning("ignoring unreadable compiler cache %s: %s", path, exc)
        return None


def compile_contracts(
    project_root: Path,
    cache_dir: Path,
    *,
    solc_binary: Path | str = DEFAULT_SOLC_BINARY,
) -> dict[str, Artifact]:
    """Compile every ``contracts/**/*.sol`` of ``project_root``; return artifacts by contract name.

    Args:
        project_root: directory holding ``contracts/``; source unit names are relative to it
            (``contracts/X.sol``) and relative imports resolve from it. ``@openzeppelin/...``
            imports resolve from the shim's ``node_modules`` (OpenZeppelin Contracts 5.4.0).
        cache_dir: directory for cached outputs (created if missing). The cache file name is the
            sha256 of the sources, the OpenZeppelin sources, the settings and the version.
        solc_binary: the ``solc``-compatible command (default: this repository's ``scripts/solc``).

    Returns:
        ``{contract name: Artifact}`` for every contract, library and interface defined in the
        project's sources (not for imported OpenZeppelin units).

    Raises:
        CompilationError: on compiler errors (message = solc's formatted messages), a compiler
            that is not SOLC_VERSION, or duplicate contract names.
        Push0Error: if any deployed bytecode contains PUSH0 (impossible with evmVersion paris).
    """
    project_root = Path(project_root)
    cache_dir = Path(cache_dir)
    sources = _project_sources(project_root)
    standard_input = _standard_input(sources)
    key = _cache_key(standard_input, _dependency_fingerprint(Path(solc_binary)))
    cache_file = cache_dir / f"solc-{SOLC_VERSION}-{key}.json"

    cached = _read_cache(cache_file)
    if cached is not None:
        return cached

    version = _require_pinned_version(solc_binary)
    started = time.perf_counter()
    try:
        output = compile_standard(
            standard_input,
            base_path=str(project_root.resolve()),
            allow_paths=[str(project_root.resolve())],
            solc_binary=str(solc_binary),
        )
    except SolcError as exc:
        errors: list[dict[str, Any]] = list(exc.error_dict or [])
        message = (
            _format_errors([e for e in errors if e.get("severity") == "error"]) if errors else None
        )
        raise CompilationError(
            f"Solidity compilation failed:\n{message or exc.message}"
            + ("" if errors else f"\n{exc.stderr_data or ''}"),
            errors=errors,
        ) from None
    except (json.JSONDecodeError, OSError) as exc:
        raise CompilationError(f"solc at {solc_binary} produced no usable output: {exc}") from exc
    elapsed = time.perf_counter() - started

    errors = output.get("errors", [])
    fatal = [e for e in errors if e.get("severity") == "error"]
    if fatal:  # compile_standard raises on these already; kept for other solc wrappers
        raise CompilationError(f"Solidity compilation failed:\n{_format_errors(fatal)}", errors)
    for warning in errors:
        logger.warning("solc: %s", _format_errors([warning]))

    artifacts = _artifacts_from_output(output, sources)
    for artifact in artifacts.values():
        assert_no_push0(artifact.deployed_bytecode, context=artifact.name)

    _write_atomic(
        cache_file,
        json.dumps(
            {
                "compiler": version,
                "settings": COMPILER_SETTINGS,
                "compile_seconds": round(elapsed, 3),
                "artifacts": {name: asdict(a) for name, a in sorted(artifacts.items())},
            },
            sort_keys=True,
        ),
    )
    logger.info("compiled %d contracts with solc %s in %.1f s", len(artifacts), version, elapsed)
    return artifacts


def strip_metadata(code: bytes) -> bytes:
    """Remove solc's CBOR metadata trailer from runtime bytecode, if present.

    solc appends ``CBOR || uint16 big-endian length of CBOR``; the CBOR map starts with
    0xa1..0xa5 (a map of 1..5 entries). Bytecode without a recognisable trailer is returned as is.
    """
    if len(code) < 2:
        return code
    length = int.from_bytes(code[-2:], "big")
    start = len(code) - 2 - length
    if length == 0 or start < 0 or not 0xA1 <= code[start] <= 0xA5:
        return code
    return code[:start]


def find_push0(bytecode: str | bytes) -> list[int]:
    """Byte offsets of PUSH0 (0x5f) *opcodes* in runtime bytecode.

    Walks instructions: PUSH1..PUSH32 (0x60..0x7f) skip their 1..32 immediate bytes, so a 0x5f
    inside push data is not an opcode. The CBOR metadata trailer is stripped first (it is data).

    Args:
        bytecode: ``0x``-hex string, plain hex string or raw bytes.

    Raises:
        ValueError: if a hex string is malformed.
    """
    code = (
        bytes.fromhex(bytecode[2:] if bytecode.startswith("0x") else bytecode)
        if isinstance(bytecode, str)
        else bytes(bytecode)
    )
    code = strip_metadata(code)
    offsets: list[int] = []
    i = 0
    n = len(code)
    while i < n:
        op = code[i]
        if op == _PUSH0:
            offsets.append(i)
        elif _PUSH1 <= op <= _PUSH32:
            i += op - _PUSH1 + 1
        i += 1
    return offsets


def assert_no_push0(bytecode: str | bytes, *, context: str = "bytecode") -> None:
    """Raise if runtime bytecode contains a PUSH0 opcode (see ``find_push0``).

    Raises:
        Push0Error: naming ``context`` and the first offsets found.
    """
    offsets = find_push0(bytecode)
    if offsets:
        raise Push0Error(
            f"{context} contains PUSH0 (0x5f) at byte offset(s) {offsets[:5]}; compile with "
            f"evmVersion {EVM_VERSION!r} for pre-Shanghai networks"
        )


def _main() -> None:
    cache = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT / "build" / "solc-cache"
    t0 = time.perf_counter()
    artifacts = compile_contracts(REPO_ROOT, cache)
    t1 = time.perf_counter()
    compile_contracts(REPO_ROOT, cache)
    t2 = time.perf_counter()
    print(f"solc {compiler_version()}  first call {t1 - t0:.2f} s, second call {t2 - t1:.3f} s")
    for name, a in sorted(artifacts.items()):
        print(f"  {name:28s} deployed {a.deployed_size:6d} B  (limit {MAX_DEPLOYED_CODE_SIZE})")


if __name__ == "__main__":
    _main()
