"""The solc-js compile pipeline: scripts/solc shim, ledger/compiler.py, cache and PUSH0 guard."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
import solcx

from ledger.contracts import compiler
from ledger.contracts.compiler import (
    MAX_DEPLOYED_CODE_SIZE,
    SOLC_VERSION,
    Artifact,
    CompilationError,
    Push0Error,
    assert_no_push0,
    compile_contracts,
    compiler_version,
    find_push0,
    strip_metadata,
)
from tests.conftest import unavailable

REPO = Path(__file__).resolve().parents[1]
SOLC = REPO / "scripts" / "solc"
CORE = (
    "ParticipantRegistry",
    "DeviceRegistry",
    "EmissionFactorRegistry",
    "MeterDataAnchor",
    "EmissionsRegistry",
)

@pytest.fixture(autouse=True, scope="module")
def _solc_js() -> None:
    """npm solc (solc-js) is installed by test.sh (scripts/bootstrap.sh); else skip (fail under CI=true)."""
    if not (REPO / "node_modules" / "solc").is_dir():
        unavailable("npm solc (solc-js) is not installed")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("solc-cache")


@pytest.fixture(scope="module")
def artifacts(cache_dir: Path) -> dict[str, Artifact]:
    return compile_contracts(REPO, cache_dir)


def _tiny_project(root: Path, source: str, name: str = "Tiny.sol") -> Path:
    (root / "contracts").mkdir(parents=True, exist_ok=True)
    (root / "contracts" / name).write_text(source)
    return root


TINY = """// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;
contract Tiny { uint256 public x; function set(uint256 v) external { x = v; } }
"""


def test_shim_reports_solc_js_version_in_native_format() -> None:
    out = subprocess.run(
        [str(SOLC), "--version"], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    assert lines[0] == "solc, the solidity compiler commandline interface"
    assert lines[1].startswith(f"Version: {SOLC_VERSION}+commit.7893614a")


def test_shim_runs_from_any_working_directory_and_ignores_extra_flags(tmp_path: Path) -> None:
    _tiny_project(tmp_path, TINY)
    (tmp_path / "contracts" / "Importer.sol").write_text(
        "// SPDX-License-Identifier: Apache-2.0\npragma solidity 0.8.28;\n"
        'import {Tiny} from "./Tiny.sol";\n'
        'import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";\n'
        "contract Importer is Ownable { Tiny t; constructor() Ownable(msg.sender) {} }\n"
    )
    # Only Importer.sol is given inline: ./Tiny.sol must come from the base path and
    # @openzeppelin/... from node_modules through the shim's import callback.
    std_in = {
        "language": "Solidity",
        "sources": {
            "contracts/Importer.sol": {"content": (tmp_path / "contracts/Importer.sol").read_text()}
        },
        "settings": {"outputSelection": {"contracts/Importer.sol": {"*": ["abi"]}}},
    }
    proc = subprocess.run(
        [
            str(SOLC),
            "--standard-json",
            "--base-path",
            str(tmp_path),
            "--allow-paths",
            "/nowhere",
            "--include-path",
            str(tmp_path / "missing"),
            "--pretty-json",
        ],
        input=json.dumps(std_in),
        capture_output=True,
        text=True,
        cwd="/",
        check=True,
    )
    out = json.loads(proc.stdout)
    assert not [e for e in out.get("errors", []) if e["severity"] == "error"], out.get("errors")
    assert "owner" in {
        f.get("name") for f in out["contracts"]["contracts/Importer.sol"]["Importer"]["abi"]
    }
    assert "contracts/Tiny.sol" in out["sources"]


def test_shim_reports_missing_import_as_solc_error(tmp_path: Path) -> None:
    std_in = {
        "language": "Solidity",
        "sources": {"a.sol": {"content": 'pragma solidity 0.8.28; import "./nope.sol";'}},
        "settings": {"outputSelection": {"*": {"*": ["abi"]}}},
    }
    proc = subprocess.run(
        [str(SOLC), "--standard-json", "--base-path", str(tmp_path)],
        input=json.dumps(std_in),
        capture_output=True,
        text=True,
        check=True,
    )
    errors = json.loads(proc.stdout)["errors"]
    assert any(e["severity"] == "error" and "nope.sol" in e["formattedMessage"] for e in errors)


def test_compiler_version_is_the_pinned_one() -> None:
    assert compiler_version().startswith(f"{SOLC_VERSION}+commit.")


def test_compile_produces_the_five_core_contracts(artifacts: dict[str, Artifact]) -> None:
    for name in CORE:
        a = artifacts[name]
        assert a.name == name and a.source == f"contracts/{name}.sol"
        assert any(e["type"] == "function" for e in a.abi)
        assert a.bytecode.startswith("0x") and len(a.bytecode) > 2
        assert a.deployed_bytecode.startswith("0x") and len(a.deployed_bytecode) > 2
        assert a.bytecode_sha256 == hashlib.sha256(bytes.fromhex(a.bytecode[2:])).hexdigest()
        assert (
            a.abi_sha256
            == hashlib.sha256(
                json.dumps(a.abi, sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest()
        )
        assert json.loads(a.metadata)["settings"]["evmVersion"] == "paris"
        assert json.loads(a.metadata)["settings"]["optimizer"] == {"enabled": True, "runs": 200}


def test_deployed_bytecode_fits_eip170_limit(artifacts: dict[str, Artifact]) -> None:
    for name in CORE:
        assert 0 < artifacts[name].deployed_size < MAX_DEPLOYED_CODE_SIZE, name


def test_no_artifact_contains_push0(artifacts: dict[str, Artifact]) -> None:
    for a in artifacts.values():
        assert find_push0(a.deployed_bytecode) == [], a.name
        assert_no_push0(a.deployed_bytecode, context=a.name)


def test_second_compile_is_served_from_cache_without_running_solc(
    artifacts: dict[str, Artifact], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_solc(*args: object, **kwargs: object) -> None:
        raise AssertionError("solc must not run on a cache hit")

    reads: list[tuple[Path, bool]] = []
    real_read = compiler._read_cache

    def read_spy(path: Path) -> dict[str, Artifact] | None:
        got = real_read(path)
        reads.append((path, got is not None))
        return got

    monkeypatch.setattr(compiler, "compile_standard", no_solc)
    monkeypatch.setattr(compiler, "_require_pinned_version", no_solc)
    monkeypatch.setattr(compiler, "_read_cache", read_spy)
    (cache_file,) = cache_dir.glob("solc-*.json")
    written = cache_file.stat().st_mtime_ns
    again = compile_contracts(REPO, cache_dir)
    assert again == artifacts
    assert reads == [(cache_file, True)]                       # answered from the one cache file
    assert cache_file.stat().st_mtime_ns == written            # and the hit does not rewrite it


def test_changed_source_misses_the_cache(tmp_path: Path) -> None:
    project = _tiny_project(tmp_path / "p", TINY)
    cache = tmp_path / "cache"
    first = compile_contracts(project, cache)
    (project / "contracts" / "Tiny.sol").write_text(TINY.replace("function set(", "function put("))
    second = compile_contracts(project, cache)
    assert len(list(cache.glob("solc-*.json"))) == 2
    assert first["Tiny"].abi_sha256 != second["Tiny"].abi_sha256


def test_unreadable_cache_file_is_recompiled(tmp_path: Path) -> None:
    project = _tiny_project(tmp_path / "p", TINY)
    cache = tmp_path / "cache"
    first = compile_contracts(project, cache)
    (cache_file,) = cache.glob("solc-*.json")
    cache_file.write_text("{not json")
    assert compile_contracts(project, cache) == first
    assert json.loads(cache_file.read_text())["artifacts"]["Tiny"]["name"] == "Tiny"


def test_compile_refuses_broken_source_with_solc_message(tmp_path: Path) -> None:
    project = _tiny_project(
        tmp_path,
        "// SPDX-License-Identifier: Apache-2.0\npragma solidity 0.8.28;\n"
        "contract Broken { uint x = ; }\n",
        name="Broken.sol",
    )
    with pytest.raises(CompilationError) as info:
        compile_contracts(project, tmp_path / "cache")
    message = str(info.value)
    assert "ParserError" in message and "contracts/Broken.sol" in message
    assert info.value.errors and info.value.errors[0]["severity"] == "error"
    assert not list((tmp_path / "cache").glob("solc-*.json")), "a failed compile must not be cached"


def test_compile_refuses_type_error_naming_the_line(tmp_path: Path) -> None:
    project = _tiny_project(
        tmp_path,
        "// SPDX-License-Identifier: Apache-2.0\npragma solidity 0.8.28;\n"
        "contract Bad { function f() external pure returns (uint8) { return 300; } }\n",
        name="Bad.sol",
    )
    with pytest.raises(CompilationError, match=r"TypeError[\s\S]*Bad\.sol:3"):
        compile_contracts(project, tmp_path / "cache")


def test_compile_refuses_project_without_sources(tmp_path: Path) -> None:
    (tmp_path / "contracts").mkdir()
    with pytest.raises(CompilationError, match="no Solidity sources"):
        compile_contracts(tmp_path, tmp_path / "cache")


def test_compile_refuses_compiler_of_another_version(tmp_path: Path) -> None:
    fake = tmp_path / "solc"
    fake.write_text(
        "#!/usr/bin/env bash\necho 'solc, the solidity compiler commandline interface'\n"
        "echo 'Version: 0.8.20+commit.a1b79de6.Linux.g++'\n"
    )
    fake.chmod(0o755)
    project = _tiny_project(tmp_path / "p", TINY)
    with pytest.raises(CompilationError, match=r"0\.8\.20.*pinned to 0\.8\.28"):
        compile_contracts(project, tmp_path / "cache", solc_binary=fake)


def test_find_push0_skips_push_immediates_and_metadata() -> None:
    assert find_push0("0x5f") == [0]
    assert find_push0("0x6001" + "5f") == [2]
    assert find_push0("0x605f") == []  # PUSH1 0x5f: data, not an opcode
    assert find_push0("0x7f" + "5f" * 32 + "00") == []  # PUSH32 of 0x5f bytes
    assert find_push0(bytes([0x61, 0x5F, 0x5F, 0x5F])) == [3]  # PUSH2 then PUSH0
    # CBOR trailer (a1 ... + 2-byte length) is data even if it contains 0x5f
    trailer = bytes([0xA1, 0x64]) + b"solc" + bytes([0x5F]) + (7).to_bytes(2, "big")
    code = bytes([0x60, 0x00, 0x00]) + trailer
    assert strip_metadata(code) == bytes([0x60, 0x00, 0x00])
    assert find_push0(code) == []


def test_assert_no_push0_refuses_shanghai_bytecode(tmp_path: Path) -> None:
    out = solcx.compile_standard(
        {
            "language": "Solidity",
            "sources": {"T.sol": {"content": TINY}},
            "settings": {
                "evmVersion": "shanghai",
                "optimizer": {"enabled": True, "runs": 200},
                "outputSelection": {"*": {"*": ["evm.deployedBytecode.object"]}},
            },
        },
        solc_binary=str(SOLC),
    )
    runtime = out["contracts"]["T.sol"]["Tiny"]["evm"]["deployedBytecode"]["object"]
    assert find_push0(runtime), "shanghai output should use PUSH0"
    with pytest.raises(Push0Error, match="Tiny.*PUSH0"):
        assert_no_push0(runtime, context="Tiny")
