"""Node permissioning from the ledger (issue 11): an organisation registers its consortium node in
ParticipantRegistry (its own admitted account only; bad node ids and endpoints refused), and the
reconciler keeps every geth node's peers equal to the admitted organisations' nodes — on a real
4-node Clique network it disconnects a suspended organisation's node and reconnects it when the
organisation is reinstated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.chain.client import Call, ChainClient, ContractRevert
from ledger.contracts.compiler import Artifact
from ledger.contracts.deploy import deploy_all
from ledger.contracts.deployment import Deployment, save_manifest
from ledger.crypto.primitives import keccak256
from ledger.identifiers import org_id, uscc_bytes32
from ledger.network import Network
from ledger.network.permissioning import admitted_nodes, reconcile, register_node_call
from ledger.store.db import make_engine, sqlite_url
from scripts.cli import app
from tests.conftest import USCC, World
from tests.test_network import CHEAP_SCRYPT, geth  # noqa: F401 - the geth fixture

NODE = bytes(range(1, 65))
#: The network test may be the first to need geth (cold build about 3.5 min: tests/test_network.py).
pytestmark = pytest.mark.timeout(1200)


def refused(w: World, fn: object, who: str, error: str) -> ContractRevert:
    with pytest.raises(ContractRevert) as e:
        w.client.preflight([Call.of(fn, w.acct[who])])
    assert e.value.error == error, e.value
    return e.value


def test_an_organisation_registers_and_replaces_its_node(chain: World) -> None:
    w, pr = chain, chain.dep.participants.functions
    res = w.tx(pr.registerNode(NODE, "10.0.0.7:30303"), "exchange")
    (e,) = w.dep.participants.decode_events(res, "NodeRegistered")
    assert (e.orgId, e.by, e.nodeId, e.endpoint) == (org_id(USCC["exchange"]), w.acct["exchange"], NODE, "10.0.0.7:30303")
    got = w.dep.participants.nodeOf(org_id(USCC["exchange"]))
    assert (got.nodeId, got.endpoint) == (NODE, "10.0.0.7:30303")
    w.tx(pr.registerNode(NODE[::-1], "node.exchange.example:30304"), "exchange")                 # replaced
    assert w.dep.participants.nodeOf(org_id(USCC["exchange"])).endpoint == "node.exchange.example:30304"
    assert w.dep.participants.nodeOf(org_id(USCC["verifier"])).nodeId == b""                       # none yet
    assert [n.org_id for n in admitted_nodes(w.dep)] == [org_id(USCC["exchange"])]
    w.tx(pr.suspend(org_id(USCC["exchange"]), keccak256(b"decision")), "regulator")
    assert admitted_nodes(w.dep) == []                                                               # suspended: no node


@pytest.mark.parametrize("node_id, endpoint, lengths", [
    (NODE[:63], "10.0.0.7:30303", (63, 14)),
    (NODE + b"\x01", "10.0.0.7:30303", (65, 14)),
    (bytes(32) + NODE[32:], "10.0.0.7:30303", (64, 14)),
    (NODE, "", (64, 0)),
    (NODE, "h" * 261, (64, 261)),
], ids=["id-63", "id-65", "id-zero", "endpoint-empty", "endpoint-261"])
def test_register_node_refuses_a_bad_node(chain: World, node_id: bytes, endpoint: str, lengths: tuple[int, int]) -> None:
    e = refused(chain, chain.dep.participants.functions.registerNode(node_id, endpoint), "exchange", "InvalidNode")
    assert tuple(e.args_) == lengths


def test_register_node_refuses_outsiders_and_suspended_organisations(chain: World) -> None:
    pr = chain.dep.participants.functions
    refused(chain, pr.registerNode(NODE, "10.0.0.7:30303"), "outsider", "NotAdmitted")
    chain.tx(pr.suspend(org_id(USCC["verifier2"]), keccak256(b"decision")), "regulator")
    refused(chain, pr.registerNode(NODE, "10.0.0.7:30303"), "verifier2", "NotAdmitted")


# ------------------------------------------------------------------------------ on the real network


@pytest.fixture(scope="module")
def permissioned(geth: Path, artifacts: dict[str, Artifact],  # noqa: F811 - the geth fixture
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Network, Deployment, dict[str, str]]]:
    net = Network.up(tmp_path_factory.mktemp("perm"), geth, nodes=4, period=1, scrypt_n=CHEAP_SCRYPT)
    try:
        client = ChainClient(net.rpc_urls[0], make_engine(sqlite_url(tmp_path_factory.mktemp("j") / "journal.sqlite")),
                             error_abis=[a.abi for a in artifacts.values()])
        acct = {org: client.add_account(k) for org, k in net.account_keys().items()}
        manifest = deploy_all(client, artifacts, acct["regulator"], org_id(USCC["regulator"]),
                              uscc_bytes32(USCC["regulator"]))
        dep = Deployment(client, manifest)
        pr = dep.participants.functions
        roles = {"exchange": ("exchange", "EXCHANGE_ROLE"), "verifier-1": ("verifier", "VERIFIER_ROLE"),
                 "verifier-2": ("verifier2", "VERIFIER_ROLE")}
        client.send([Call.of(pr.admit(org_id(USCC[u]), dep.role(r), uscc_bytes32(USCC[u]), 28800, acct[org], org),
                             acct["regulator"]) for org, (u, r) in roles.items()])
        client.send([register_node_call(dep, n.spec, acct[n.spec.organisation]) for n in net.nodes])
        yield net, dep, acct
    finally:
        net.stop()


def _wait_peers(net: Network, expected: dict[str, set[str]], rounds: int = 120) -> None:
    for _ in range(rounds):
        got = {n.name: n.peer_ids() for n in net.nodes}
        if got == expected:
            return
        net.wait_blocks(1, timeout=30)
    assert got == expected


def test_reconciler_disconnects_a_suspended_organisations_node_and_reconnects_it(
        permissioned: tuple[Network, Deployment, dict[str, str]]) -> None:
    net, dep, acct = permissioned
    ids = {n.name: n.spec.enode_id for n in net.nodes}
    everyone = {n: set(ids.values()) - {i} for n, i in ids.items()}
    assert [a.node_id for a in admitted_nodes(dep)] == list(ids.values())
    changes = reconcile(net, dep)
    assert all(c.removed == () and set(c.wanted) == everyone[c.node] for c in changes)
    _wait_peers(net, everyone)

    dep.client.send([Call.of(dep.participants.functions.suspend(org_id(USCC["verifier2"]), keccak256(b"decision")),
                             acct["regulator"])])
    changes = {c.node: c for c in reconcile(net, dep)}
    assert changes["node-1"].removed == (ids["node-4"],) and changes["node-4"].wanted == ()
    # (node-4's own drops may find the links already cut by the other three)
    assert set(changes["node-4"].removed) <= {ids["node-1"], ids["node-2"], ids["node-3"]}
    cut = {n: (ids_ - {ids["node-4"]}) for n, ids_ in everyone.items()}
    cut["node-4"] = set()
    _wait_peers(net, cut)
    assert net.node("node-4").static_nodes() == []                               # a restart dials nobody
    assert all(ids["node-4"] not in e for n in net.nodes[:3] for e in n.static_nodes())
    net.wait_blocks(3, nodes=["node-1", "node-2", "node-3"])                    # the three others seal on

    dep.client.send([Call.of(dep.participants.functions.reinstate(org_id(USCC["verifier2"])), acct["regulator"])])
    changes = {c.node: c for c in reconcile(net, dep)}
    assert changes["node-1"].added == (ids["node-4"],) and set(changes["node-4"].wanted) == everyone["node-4"]
    _wait_peers(net, everyone)


def test_cli_network_reconcile_reads_the_registry(permissioned: tuple[Network, Deployment, dict[str, str]],
                                                  tmp_path: Path) -> None:
    net, dep, _ = permissioned
    save_manifest(dep.manifest, tmp_path / "deployment.json")
    out = CliRunner().invoke(app, ["network", "reconcile", "--data-dir", str(net.root), "--manifest",
                                   str(tmp_path / "deployment.json")], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "peers reconciled with ParticipantRegistry" in out.output
    assert all(f"{n.name} │ {n.spec.organisation}" in out.output for n in net.nodes)
    out = CliRunner().invoke(app, ["network", "reconcile", "--data-dir", str(net.root), "--manifest",
                                   str(tmp_path / "missing.json")], env={"COLUMNS": "200"})
    assert out.exit_code == 1 and "missing.json" in out.output
