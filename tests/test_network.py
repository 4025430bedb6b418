"""The consortium network on real geth v1.13.15 Clique nodes (ledger.network, `carbonledger network`):
four sealers, one per organisation, seal in turn and agree; the status table; down and up resume from
the data directories; a crashed node catches up; the ledger deploys and reads back on it; a sealer
voted out seals no more (fault 5 of issue 11, marked ``network_long``); bad input to the genesis
and the CLI is refused with a clear error.

geth comes from scripts/geth.sh (built into the cache if absent); if it cannot be built the tests
skip, and fail under CI=true (tests/conftest.py ``unavailable``).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.chain.client import Call, ChainClient
from ledger.contracts.compiler import Artifact
from ledger.contracts.deploy import deploy_all
from ledger.contracts.deployment import Deployment
from ledger.identifiers import org_id, uscc_bytes32
from ledger.network import Fork, GenesisError, GethNode, GethUnavailable, Network, NetworkError, Placement, geth_binary
from ledger.network.genesis import LONDON_FORKS, clique_genesis, organisation_names
from ledger.network.node import NodeSpec
from ledger.store.db import make_engine, sqlite_url
from scripts.cli import app
from tests.conftest import ROOT, USCC, unavailable

CHEAP_SCRYPT = 2**10
#: Every test here may be the first to need geth, whose cold build (scripts/geth.sh) takes about
#: 3.5 min on an idle 2-core machine; the network tests themselves take under a minute each.
pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="session")
def geth() -> Path:
    try:
        return geth_binary(ROOT)
    except GethUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture(scope="module")
def net(geth: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    network = Network.up(tmp_path_factory.mktemp("net"), geth, nodes=4, period=1, scrypt_n=CHEAP_SCRYPT)
    yield network
    network.stop()


def _block_signers(net: Network, first: int, last: int, node: int = 0) -> list[str]:
    return [net.nodes[node].rpc("clique_getSigner", hex(b)).lower() for b in range(first, last + 1)]


def test_four_sealers_seal_in_turn_and_agree_on_heads(net: Network) -> None:
    target = net.wait_blocks(12)
    sealers = {n.spec.sealer.lower() for n in net.nodes}
    assert set(_block_signers(net, target - 11, target)) == sealers
    hashes = {n.name: n.rpc("eth_getBlockByNumber", hex(target), False)["hash"] for n in net.nodes}
    assert len(set(hashes.values())) == 1, hashes
    assert sorted(a.lower() for a in net.signers()) == sorted(sealers)
    # admin/clique/personal only over IPC: HTTP serves eth, net, web3, txpool and refuses the rest
    client = ChainClient(net.rpc_urls[0], make_engine("sqlite://"))
    assert client.chain_id == net.chain_id
    for method in ("admin_peers", "clique_getSigners", "miner_stop"):
        with pytest.raises(Exception, match="does not exist|not available"):
            client.rpc(method)


def test_status_table_shows_every_node_with_its_organisation(net: Network) -> None:
    net.wait_blocks(1)
    rows = net.status()
    assert [r.organisation for r in rows] == ["regulator", "exchange", "verifier-1", "verifier-2"]
    assert all(r.running and r.peers == 3 and r.sealer for r in rows)
    assert max(r.lag for r in rows if r.lag is not None) <= 2
    out = CliRunner().invoke(app, ["network", "status", "--data-dir", str(net.root)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    for r in rows:
        assert r.name in out.output and r.organisation in out.output
    flat = " ".join(out.output.split())
    assert "4 signers" in flat and "4 of 4 nodes up" in flat


def test_a_killed_node_restarts_and_catches_up(net: Network) -> None:
    net.kill("verifier-1")
    assert not net.node("node-3").running()
    net.wait_blocks(3, nodes=["node-1", "node-2", "node-4"])  # the other three seal on
    net.restart("node-3")
    target = net.wait_blocks(2)
    hashes = {n.rpc("eth_getBlockByNumber", hex(target), False)["hash"] for n in net.nodes}
    assert len(hashes) == 1


def test_ledger_deploys_and_reads_back_on_the_network(net: Network, artifacts: dict[str, Artifact],
                                                      tmp_path: Path) -> None:
    keys = net.account_keys()
    client = ChainClient(net.rpc_urls[1], make_engine(sqlite_url(tmp_path / "journal.sqlite")),
                         error_abis=[a.abi for a in artifacts.values()])
    regulator = client.add_account(keys["regulator"])
    exchange = client.add_account(keys["exchange"])
    manifest = deploy_all(client, artifacts, regulator, org_id(USCC["regulator"]), uscc_bytes32(USCC["regulator"]))
    dep = Deployment(client, manifest)
    client.send([Call.of(dep.participants.functions.admit(org_id(USCC["exchange"]), dep.role("EXCHANGE_ROLE"),
                                                          uscc_bytes32(USCC["exchange"]), 28800, exchange, "exchange"),
                         regulator)])
    # read back through another node: the deployment and the admission reached every node
    other = ChainClient(net.rpc_urls[3], make_engine("sqlite://"))
    dep3 = Deployment(other, manifest)
    assert manifest["chain_id"] == net.chain_id
    assert dep3.participants.isAdmitted(exchange)
    assert dep3.participants.orgOf(exchange) == org_id(USCC["exchange"])
    assert dep3.participants.organisationCount() == 2


def test_down_and_up_resume_from_the_data_directories(net: Network, geth: Path) -> None:
    net.wait_blocks(1)
    head = max(net.head(i) for i in range(4))
    genesis = net.nodes[0].rpc("eth_getBlockByNumber", "0x0", False)["hash"]
    out = CliRunner().invoke(app, ["network", "down", "--data-dir", str(net.root)])
    assert out.exit_code == 0, out.output
    assert not any(n.running() for n in net.nodes)
    again = Network.up(net.root, geth, nodes=4, period=1)
    assert min(again.head(i) for i in range(4)) >= head - 1
    assert again.nodes[2].rpc("eth_getBlockByNumber", "0x0", False)["hash"] == genesis
    again.wait_blocks(2)


@pytest.mark.network_long
def test_a_sealer_voted_out_seals_no_more_and_the_others_go_on(geth: Path, tmp_path_factory: pytest.TempPathFactory
                                                               ) -> None:
    """Fault 5 of issue 11: every node's clique_getSigners drops the voted-out sealer, it seals no
    block after the vote, the other three go on; voted back in, it seals again."""
    net = Network.up(tmp_path_factory.mktemp("vote"), geth, nodes=4, period=1, scrypt_n=CHEAP_SCRYPT)
    try:
        net.wait_blocks(4)
        out = net.node("node-4").spec.sealer
        res = CliRunner().invoke(app, ["network", "remove-sealer", "node-4", "--data-dir", str(net.root)],
                                 env={"COLUMNS": "200"})
        assert res.exit_code == 0 and "voted out" in res.output, res.output
        signers = net.signers()
        assert out not in signers and len(signers) == 3
        for i in range(4):
            assert out not in net.signers(i)
        since = max(net.head(i) for i in range(4))
        target = net.wait_blocks(12, nodes=["node-1", "node-2", "node-3"])
        assert out.lower() not in _block_signers(net, since + 1, target)
        assert len(set(_block_signers(net, since + 1, target))) == 3
        assert net.status()[3].sealer is False
        back = net.add_sealer("node-4")
        assert out in back and len(back) == 4
        since = max(net.head(i) for i in range(4))
        target = net.wait_blocks(12)
        assert out.lower() in _block_signers(net, since + 1, target)
    finally:
        net.stop()


def test_vote_refuses_what_changes_nothing(net: Network) -> None:
    with pytest.raises(NetworkError, match="already a signer"):
        net.add_sealer("node-2")
    with pytest.raises(NetworkError, match="no node 'node-9'"):
        net.remove_sealer("node-9")
    out = CliRunner().invoke(app, ["network", "add-sealer", "exchange", "--data-dir", str(net.root)],
                             env={"COLUMNS": "200"})
    assert out.exit_code == 1 and "is already a signer" in out.output


# ------------------------------------------------------------------------------ genesis and bad input


def test_genesis_has_every_fork_through_london_at_zero_and_no_merge() -> None:
    a, b = "0x" + "22" * 20, "0x" + "11" * 20
    g = clique_genesis(4321, [a, b], {a: 5}, period=2, epoch=100, gas_limit=30_000_000)
    cfg = g["config"]
    assert cfg["chainId"] == 4321 and all(cfg[f] == 0 for f in LONDON_FORKS)
    assert "terminalTotalDifficulty" not in cfg and "shanghaiTime" not in cfg
    assert cfg["clique"] == {"period": 2, "epoch": 100}
    extra = bytes.fromhex(g["extraData"][2:])
    assert extra[:32] == bytes(32) and extra[-65:] == bytes(65)
    assert extra[32:-65] == bytes.fromhex("11" * 20 + "22" * 20)  # ascending
    assert g["alloc"] == {"22" * 20: {"balance": "0x5"}} and int(g["gasLimit"], 16) == 30_000_000


@pytest.mark.parametrize("kwargs, match", [
    ({"chain_id": 0}, "chain id"),
    ({"period": -1}, "period"),
    ({"epoch": 0}, "epoch"),
    ({"gas_limit": 4999}, "gas limit"),
    ({"alloc": {"0x" + "11" * 20: -1}}, "non-negative"),
    ({"alloc": {"0x1234": 1}}, "bad account address"),
    ({"sealers": []}, "at least one sealer"),
    ({"sealers": ["0x" + "11" * 20, "0x" + "11" * 20]}, "twice"),
    ({"sealers": ["nope"]}, "bad sealer address"),
])
def test_genesis_refuses_bad_parameters(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"chain_id": 1, "sealers": ["0x" + "11" * 20], "alloc": {}}
    args.update(kwargs)
    with pytest.raises(GenesisError, match=match):
        clique_genesis(args.pop("chain_id"), args.pop("sealers"), args.pop("alloc"), **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("nodes", [0, -1, 17, True, 2.0])
def test_organisations_refuse_a_bad_node_count(nodes: object) -> None:
    with pytest.raises(GenesisError, match="nodes must be an integer in 1..16"):
        organisation_names(nodes)  # type: ignore[arg-type]


def test_organisations_are_the_consortium_then_more_verifiers() -> None:
    assert organisation_names(1) == ["regulator"]
    assert organisation_names(6) == ["regulator", "exchange", "verifier-1", "verifier-2", "verifier-3", "verifier-4"]


def test_create_refuses_a_placement_that_does_not_name_one_place_per_node(tmp_path: Path) -> None:
    places = [Placement("ns-a", "10.9.0.1", "10.9.1.2")]
    with pytest.raises(NetworkError, match="placement names 1 places for 2 nodes"):
        Network.create(tmp_path / "net", tmp_path / "no-geth-needed", 2, placement=places)
    assert not (tmp_path / "net").exists()                      # refused before anything is written


def test_a_placed_node_runs_in_its_namespace_and_binds_its_addresses(tmp_path: Path) -> None:
    spec = NodeSpec("node-1", "regulator", 30303, 8545, 8551, "ab" * 64, "0x" + "11" * 20,
                    netns="cl-n0", p2p_host="10.9.0.1", rpc_host="10.9.1.2")
    node = GethNode(tmp_path / "geth", tmp_path, spec, 20071, 60_000_000, tmp_path / "pass")
    args = node.args()
    assert args[:5] == ["ip", "netns", "exec", "cl-n0", str(tmp_path / "geth")]
    assert args[args.index("--nat") + 1] == "extip:10.9.0.1" and args[args.index("--http.addr") + 1] == "10.9.1.2"
    assert args[args.index("--authrpc.addr") + 1] == "127.0.0.1"             # the namespace's own loopback
    assert spec.enode == f"enode://{'ab' * 64}@10.9.0.1:30303" and node.http_url == "http://10.9.1.2:8545"
    plain = GethNode(tmp_path / "geth", tmp_path, NodeSpec("node-1", "regulator", 30303, 8545, 8551, "ab" * 64, "0x" + "11" * 20),
                     20071, 60_000_000, tmp_path / "pass")
    assert plain.args()[0] == str(tmp_path / "geth") and plain.args()[plain.args().index("--nat") + 1] == "none"
    assert plain.spec.enode.endswith("@127.0.0.1:30303") and plain.http_url == "http://127.0.0.1:8545"


def test_network_refuses_a_bad_data_dir(geth: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(NetworkError, match="not a directory"):
        Network.create(a_file, geth, 1)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something").write_text("x")
    with pytest.raises(NetworkError, match="not empty and holds no network"):
        Network.create(busy, geth, 1)
    with pytest.raises(NetworkError, match="holds no network"):
        Network.open(tmp_path, geth)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "network.json").write_text("{")
    with pytest.raises(NetworkError, match="does not parse"):
        Network.open(broken, geth)


def test_up_refuses_a_data_dir_holding_another_network(net: Network, geth: Path) -> None:
    with pytest.raises(NetworkError, match="holds a network of 4 nodes and period 1 s, not 3 and 1 s"):
        Network.up(net.root, geth, nodes=3, period=1)
    with pytest.raises(NetworkError, match="already holds a network"):
        Network.create(net.root, geth, 4)


@pytest.mark.parametrize("args, match", [
    (["--nodes", "0"], "nodes must be an integer in 1..16"),
    (["--nodes", "17"], "nodes must be an integer in 1..16"),
    (["--period", "-1"], "period must be an integer ≥ 0"),
    (["--nodes", "four"], "Invalid value for '--nodes'"),
])
def test_cli_network_up_refuses_bad_input(args: list[str], match: str, tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["network", "up", "--data-dir", str(tmp_path / "n"), *args], env={"COLUMNS": "200"})
    assert out.exit_code == 2
    assert match in " ".join(out.output.replace("│", " ").split())
    assert not (tmp_path / "n").exists()


def test_cli_network_refuses_a_data_dir_that_is_a_file_or_holds_no_network(geth: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    out = CliRunner().invoke(app, ["network", "up", "--data-dir", str(a_file)], env={"COLUMNS": "200"})
    assert out.exit_code == 2 and "is not a directory" in out.output
    out = CliRunner().invoke(app, ["network", "status", "--data-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert out.exit_code == 2 and "holds no network" in out.output


def test_network_writes_keys_with_owner_only_modes(geth: Path, tmp_path: Path) -> None:
    Network.create(tmp_path / "n", geth, 1, scrypt_n=CHEAP_SCRYPT, alloc={"0x" + "ab" * 20: 7})
    root = tmp_path / "n"
    for secret in (root / "keystore.passphrase", root / "node-1" / "nodekey"):
        assert secret.stat().st_mode & 0o077 == 0
    genesis = json.loads((root / "genesis.json").read_text())
    assert genesis["alloc"]["ab" * 20] == {"balance": "0x7"}
    net = Network.open(root, geth)
    assert list(net.account_keys()) == ["regulator"] and len(net.account_keys()["regulator"]) == 32
    assert net.node(0).spec.sealer[2:].lower() not in genesis["alloc"]  # a sealer key has no balance


def test_installer_reuses_the_cached_binary(geth: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert geth_binary(ROOT, build=False) == geth                       # found in the cache, nothing built
    assert "Version: 1.13.15-stable" in subprocess.run([str(geth), "version"], capture_output=True, text=True).stdout
    monkeypatch.setenv("CARBONLEDGER_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(GethUnavailable, match="is not in .*empty-cache/geth-1.13.15"):
        geth_binary(ROOT, build=False)
    with pytest.raises(GethUnavailable, match="installer .*scripts/geth.sh is missing"):
        geth_binary(tmp_path)


def test_choose_fork_keeps_the_higher_difficulty_then_more_nodes_then_the_lower_head_hash() -> None:
    low, high = "0x" + "0" * 63 + "1", "0x" + "f" * 64
    a, b = Fork(8, high, 14, ("node-1", "node-2")), Fork(7, low, 14, ("node-3", "node-4"))
    assert Network.choose_fork([a, b])[0] == b                                       # a tie: the lower head hash
    assert Network.choose_fork([b, a])[0] == b                                       # whatever the order given
    assert Network.choose_fork([Fork(8, high, 14, ("node-1", "node-2", "node-3")), b])[0].head_hash == high  # more nodes
    assert Network.choose_fork([Fork(8, high, 15, ("node-1",)), b])[0].total_difficulty == 15  # higher difficulty first


def test_heal_on_a_sealing_network_finds_no_stall_and_rewinds_nothing(net: Network) -> None:
    before = net.head(0)
    assert net.resolve_stall(quiet=4) is None                                      # the heads move
    out = CliRunner().invoke(app, ["network", "heal", "--data-dir", str(net.root), "--quiet", "4"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    flat = " ".join(out.output.split())
    assert "no stall" in flat and "4 of 4 nodes up" in flat
    assert len(net.forks()) == 1 and net.head(0) > before


def test_cli_network_heal_refuses_a_quiet_time_below_one_second(net: Network) -> None:
    out = CliRunner().invoke(app, ["network", "heal", "--data-dir", str(net.root), "--quiet", "0"], env={"COLUMNS": "200"})
    assert out.exit_code == 2 and "--quiet" in out.output


def _settled(net: Network, quiet: float = 3.0) -> int:
    """Wait (bounded by pytest-timeout) until every node has the same head, unchanged for ``quiet`` s; that head."""
    while True:
        first = [n.rpc("eth_getBlockByNumber", "latest", False)["hash"] for n in net.nodes]
        time.sleep(quiet)
        again = [n.rpc("eth_getBlockByNumber", "latest", False)["hash"] for n in net.nodes]
        if first == again and len(set(again)) == 1:
            return net.head(0)


def _head_at_least(node: GethNode, number: int) -> None:
    while int(node.rpc("eth_blockNumber"), 16) < number:
        time.sleep(0.2)


def test_heal_ends_a_stall_on_two_forks_of_equal_difficulty(geth: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The stall seen after a 2 | 2 partition (README "Faults on the network"), built on purpose:
    with p and q the signers of blocks h-1 and h and a the in-turn signer of h+1, side {a, q}
    seals h+1 in turn (difficulty 2) and stops (q signed h: "signed recently"); side {b, p} seals
    h+1 and h+2 out of turn (1 + 1) and stops. Reconnected, the forks have equal total difficulty
    and nothing moves; `network heal` keeps the fork with the lower head hash, rewinds the other
    side to block h and sealing resumes on one chain."""
    net = Network.up(tmp_path_factory.mktemp("stall"), geth, nodes=4, period=1, scrypt_n=CHEAP_SCRYPT)
    try:
        order = sorted(n.spec.sealer.lower() for n in net.nodes)           # Clique's in-turn order
        node_of = {n.spec.sealer.lower(): n for n in net.nodes}
        net.wait_blocks(3)
        while True:
            for n in net.nodes:
                n.rpc("miner_stop")
            h = _settled(net)
            p, q = _block_signers(net, h - 1, h)
            a = order[(h + 1) % 4]
            if len({p, q, a}) == 3 and order[(h + 2) % 4] != p:
                break
            for n in net.nodes:                                              # not this head: one block more
                n.rpc("miner_start")
            net.wait_blocks(1)
        (b,) = set(order) - {p, q, a}
        q_side, p_side = [node_of[a], node_of[q]], [node_of[b], node_of[p]]
        for x in q_side:                                                     # cut both ways (and off the dial set)
            for y in p_side:
                x.rpc("admin_removePeer", y.spec.enode)
                y.rpc("admin_removePeer", x.spec.enode)
        while any(y.spec.enode_id in x.peer_ids() for x in q_side for y in p_side):
            time.sleep(0.2)
        node_of[a].rpc("miner_start")
        _head_at_least(node_of[a], h + 1)
        node_of[b].rpc("miner_start")
        _head_at_least(node_of[b], h + 1)
        node_of[p].rpc("miner_start")
        _head_at_least(node_of[p], h + 2)
        node_of[q].rpc("miner_start")                                        # every sealer seals again …
        for x in q_side:
            for y in p_side:
                x.rpc("admin_addPeer", y.spec.enode)
        net.connect()
        forks = net.forks()
        assert sorted((f.head, f.total_difficulty - forks[0].total_difficulty) for f in forks) == [(h + 1, 0), (h + 2, 0)]
        assert net.find_stall(quiet=6) == forks                              # … and nothing moves: a stall
        out = CliRunner().invoke(app, ["network", "heal", "--data-dir", str(net.root), "--quiet", "6"], env={"COLUMNS": "200"})
        print(f"forks before `network heal`: {forks}\n{out.output}")            # shown by pytest -rP
        assert out.exit_code == 0, out.output
        assert "stall resolved" in out.output and "sealing resumed" in out.output
        kept = min(forks, key=lambda f: int(f.head_hash, 16))                 # equal difficulty and nodes: the lower hash
        gone = next(f for f in forks if f != kept)
        assert all(_hash_of(n, kept.head) == kept.head_hash for n in net.nodes)
        assert all(_hash_of(n, gone.head) != gone.head_hash for n in net.nodes)
        assert f"{gone.nodes[0]} → block {h}" in " ".join(out.output.split())
        target = net.wait_blocks(3)                                          # one chain, sealing on
        # Clique lets an out-of-turn sealer race the in-turn one at a height for a moment: the nodes
        # agree on ``target`` once the heavier block has propagated (seconds on a loaded machine)
        deadline = time.monotonic() + 30
        while len({_hash_of(n, target) for n in net.nodes}) != 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len({_hash_of(n, target) for n in net.nodes}) == 1
    finally:
        net.stop()


def _hash_of(node: GethNode, number: int) -> str | None:
    b = node.rpc("eth_getBlockByNumber", hex(number), False)
    return b and b["hash"]
