"""The production recipe (`carbonledger network besu-config`): a Besu QBFT network whose extraData
decodes (PyPI ``rlp``) as Besu's documented QBFT genesis does, whose validators are the addresses of
the generated node keys, whose chain id is the deployment manifest's, and whose allowlists come from
ParticipantRegistry. Besu itself cannot be installed here, so the files are checked, not run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rlp
from typer.testing import CliRunner

from ledger.contracts.deployment import save_manifest
from ledger.crypto.primitives import Signer, keccak256
from ledger.identifiers import org_id
from ledger.network.besu import (
    BFT_MIX_HASH,
    BesuConfigError,
    besu_milestones,
    decode_qbft_extra_data,
    qbft_extra_data,
    write_besu_network,
)
from ledger.network.genesis import LONDON_FORKS
from scripts.cli import app
from tests.conftest import USCC, World

#: Besu's documentation, "Configure QBFT consensus", genesis file with block header validator
#: selection (hyperledger/besu-docs docs/private-networks/how-to/configure/consensus/qbft.md).
BESU_DOCS_QBFT_EXTRA = ("0xf87aa00000000000000000000000000000000000000000000000000000000000000000f8549464a702e626"
                        "3b7297a96638cac6ae65e6541f4169943923390ad55e90c237593b3b0e401f3b08a0318594aefdb9a738c9"
                        "f433e5b6b212a6d62f6370c2f69294c7eeb9a4e00ce683cf93039b212648e01c6c6b78c080c0")
#: The same page, contract validator selection: no validators in the header.
BESU_DOCS_QBFT_EXTRA_EMPTY = "0xe5a00000000000000000000000000000000000000000000000000000000000000000c0c080c0"


def test_extra_data_encodes_as_besus_documented_qbft_genesis() -> None:
    vanity, validators, vote, round_, seals = rlp.decode(bytes.fromhex(BESU_DOCS_QBFT_EXTRA[2:]))
    assert vanity == bytes(32) and len(validators) == 4 and vote == [] and round_ == b"" and seals == []
    assert qbft_extra_data(["0x" + v.hex() for v in validators]) == BESU_DOCS_QBFT_EXTRA
    assert rlp.encode([bytes(32), [], [], 0, []]).hex() == BESU_DOCS_QBFT_EXTRA_EMPTY[2:]
    d = decode_qbft_extra_data(BESU_DOCS_QBFT_EXTRA)
    assert d["round"] == 0 and d["validators"][0].lower() == "0x64a702e6263b7297a96638cac6ae65e6541f4169"


@pytest.mark.parametrize("validators, match", [([], "at least one validator"),
                                               (["0x" + "11" * 20] * 2, "twice"), (["0x12"], "bad validator")])
def test_extra_data_refuses_bad_validators(validators: list[str], match: str) -> None:
    with pytest.raises(BesuConfigError, match=match):
        qbft_extra_data(validators)


def test_milestones_match_the_compiled_evm() -> None:
    paris = besu_milestones("paris")
    assert all(paris[f] == 0 for f in LONDON_FORKS) and "shanghaiTime" not in paris
    assert besu_milestones("shanghai")["shanghaiTime"] == 0
    with pytest.raises(BesuConfigError, match="no Besu milestone for evmVersion 'byzantium'"):
        besu_milestones("byzantium")


def test_besu_network_from_the_registry(chain: World, tmp_path: Path) -> None:
    w, pr = chain, chain.dep.participants.functions
    w.tx(pr.registerNode(bytes(range(1, 65)), "exchange.example:30303"), "exchange")
    w.tx(pr.registerNode(bytes(range(2, 66)), "enterprise2.example:30303"), "enterprise2")
    w.tx(pr.suspend(org_id(USCC["enterprise2"]), keccak256(b"decision")), "regulator")
    net = write_besu_network(tmp_path / "besu", w.dep, 4, period=2)
    genesis = json.loads((tmp_path / "besu" / "genesis.json").read_text())
    cfg = genesis["config"]
    assert cfg["chainId"] == w.dep.manifest["chain_id"] == w.client.chain_id
    assert cfg["qbft"] == {"blockperiodseconds": 2, "epochlength": 30000, "requesttimeoutseconds": 10}
    assert cfg["zeroBaseFee"] is True and cfg["londonBlock"] == 0 and "shanghaiTime" not in cfg
    assert "terminalTotalDifficulty" not in cfg and genesis["mixHash"] == BFT_MIX_HASH
    extra = decode_qbft_extra_data(genesis["extraData"])
    keys = [(tmp_path / "besu" / f"validator-{i}" / "key").read_text() for i in range(1, 5)]
    addresses = sorted((Signer(bytes.fromhex(k[2:])).address for k in keys), key=lambda a: bytes.fromhex(a[2:]))
    assert extra == {"vanity": bytes(32), "validators": addresses, "vote": [], "round": 0, "seals": []}
    assert all((tmp_path / "besu" / f"validator-{i}" / "key").stat().st_mode & 0o077 == 0 for i in range(1, 5))
    perms = (tmp_path / "besu" / "permissions_config.toml").read_text()
    nodes = json.loads(perms.split("nodes-allowlist=")[1].splitlines()[0])
    accounts = json.loads(perms.split("accounts-allowlist=")[1].splitlines()[0])
    assert nodes == [v.enode for v in net.validators] + ["enode://" + bytes(range(1, 65)).hex() + "@exchange.example:30303"]
    assert w.acct["exchange"] in accounts and w.acct["regulator"] in accounts
    assert w.acct["enterprise2"] not in accounts and w.acct["outsider"] not in accounts    # suspended; never admitted
    assert "qbft_proposeValidatorVote" in (tmp_path / "besu" / "RUNBOOK.md").read_text()


@pytest.mark.parametrize("validators, period, match", [(0, 2, "validators must be an integer in 1..16"),
                                                       (17, 2, "validators must be an integer in 1..16"),
                                                       (4, 0, "block period must be an integer ≥ 1")])
def test_besu_network_refuses_bad_parameters(chain: World, tmp_path: Path, validators: int, period: int,
                                             match: str) -> None:
    with pytest.raises(BesuConfigError, match=match):
        write_besu_network(tmp_path / "b", chain.dep, validators, period=period)
    assert not (tmp_path / "b").exists()


def test_besu_network_refuses_a_directory_in_use(chain: World, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "genesis.json").write_text("{}")
    with pytest.raises(BesuConfigError, match="is not an empty directory"):
        write_besu_network(tmp_path / "b", chain.dep, 4)


def test_cli_besu_config(chain: World, tmp_path: Path) -> None:
    save_manifest(chain.dep.manifest, tmp_path / "deployment.json")
    args = ["network", "besu-config", "--manifest", str(tmp_path / "deployment.json"), "--rpc-url", chain.client.rpc_url]
    out = CliRunner().invoke(app, [*args, "--validators", "4", "--out", str(tmp_path / "b")], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert f"chain {chain.client.chain_id}, 4 validators" in " ".join(out.output.split())
    assert len(decode_qbft_extra_data(json.loads((tmp_path / "b" / "genesis.json").read_text())["extraData"])["validators"]) == 4
    out = CliRunner().invoke(app, [*args, "--validators", "0", "--out", str(tmp_path / "c")], env={"COLUMNS": "200"})
    assert out.exit_code == 2 and "validators must be an integer in 1..16" in " ".join(out.output.replace("│", " ").split())
