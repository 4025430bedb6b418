"""Node permissioning from the ledger: who may peer is who ParticipantRegistry admits.

Each organisation registers its consortium node with ``ParticipantRegistry.registerNode(nodeId,
endpoint)`` from one of its own admitted accounts (:func:`register_node_call`). The reconciler
(:func:`reconcile`) then makes every node's peers equal to the nodes of the organisations that are
Active now: it dials the missing ones (``admin_addPeer``), drops the others (``admin_removePeer``,
which also disconnects), and rewrites each node's static-nodes file (``config.toml``
``[Node.P2P] StaticNodes``) so that a restart dials the same set. The node of an organisation that
is suspended or revoked (or never registered a node) is dropped by every other node, and its own
peer list is emptied.

What geth cannot enforce: geth has **no inbound allowlist**. ``--nodiscover`` stops discovery and
the static list says whom a node dials, but any node that knows an enode and can reach its port is
accepted as an inbound peer (up to ``--maxpeers``); ``--netrestrict`` filters by IP range only. So
a suspended organisation that keeps running its node can dial back in until the reconciler drops
it again, and it can read every block it receives — the reconciler is hygiene, not a wall. Besu
enforces it at the node: ``permissions_config.toml`` holds a node allowlist
(``nodes-allowlist``, checked for inbound and outbound connections) and an account allowlist
(``accounts-allowlist``, checked for every transaction a node accepts or mines); ``carbonledger
network besu-config`` writes both from ParticipantRegistry. A suspended organisation's sealer key
must also be voted out (``network remove-sealer``): peering is not sealing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ledger.chain.client import Call
from ledger.contracts.deployment import Deployment
from ledger.network.cluster import Network, NetworkError
from ledger.network.node import NodeSpec, enode_id_of

#: ``ParticipantRegistry.Status.Active``.
ACTIVE = 1


@dataclass(frozen=True)
class AdmittedNode:
    """A node registered by an Active organisation."""

    org_id: bytes
    node_id: str
    endpoint: str

    @property
    def enode(self) -> str:
        """``enode://<node id>@<endpoint>``."""
        return f"enode://{self.node_id}@{self.endpoint}"


@dataclass(frozen=True)
class PeerChange:
    """What :func:`reconcile` did on one node: enode ids dialled and dropped, and the peers it now wants."""

    node: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    wanted: tuple[str, ...]


def register_node_call(dep: Deployment, spec: NodeSpec, account: str, host: str = "127.0.0.1") -> Call:
    """The transaction by which ``account`` (an admitted account of the node's organisation)
    registers the node ``spec`` as ``enode://<id>@<host>:<p2p port>``."""
    return dep.participants.registerNode(bytes.fromhex(spec.enode_id), f"{host}:{spec.p2p_port}", sender=account)


def admitted_nodes(dep: Deployment, block: str = "latest") -> list[AdmittedNode]:
    """The nodes of every Active organisation that registered one, in admission order."""
    pr = dep.participants
    org_ids = [pr.organisationAt(i, block=block) for i in range(pr.organisationCount(block=block))]
    out: list[AdmittedNode] = []
    for oid in org_ids:
        if pr.organisation(oid, block=block).status != ACTIVE:
            continue
        node = pr.nodeOf(oid, block=block)
        if node.nodeId:
            out.append(AdmittedNode(bytes(oid), bytes(node.nodeId).hex(), node.endpoint))
    return out


def reconcile(net: Network, dep: Deployment, settle_s: float = 30.0) -> list[PeerChange]:
    """Make every running node's peers (and every node's static-nodes file) equal to the admitted
    organisations' nodes other than itself; a node not admitted gets none (module docstring).

    A dial already under way when a peer is dropped can still complete, so after the pass the
    unwanted links are dropped again until none is left (at most ``settle_s`` seconds); the wanted
    ones are dialled by geth in the background.

    Raises:
        NodeError: a node did not answer.
        NetworkError: an unwanted link was still up after ``settle_s`` seconds.
    """
    allowed = {n.node_id: n.enode for n in admitted_nodes(dep)}
    known = {n.spec.enode_id: n.spec.enode for n in net.nodes}
    changes: list[PeerChange] = []
    for node in net.nodes:
        own = node.spec.enode_id
        wanted = {i: e for i, e in allowed.items() if i != own} if own in allowed else {}
        dialled = {enode_id_of(e): e for e in node.static_nodes()}
        node.set_static_nodes(sorted(wanted.values()))
        if not node.running():
            changes.append(PeerChange(node.name, (), (), tuple(sorted(wanted))))
            continue
        peers = {enode_id_of(p["enode"]): p["enode"] for p in node.rpc("admin_peers")}
        added = sorted(set(wanted) - set(peers))
        for i in added:
            node.rpc("admin_addPeer", wanted[i])
        # drop from the dial set too what is not connected now (else geth would dial it again)
        unwanted = {**known, **dialled, **peers}
        for i in sorted(set(unwanted) - set(wanted) - {own}):
            node.rpc("admin_removePeer", unwanted[i])
        removed = sorted(set(peers) - set(wanted))
        changes.append(PeerChange(node.name, tuple(added), tuple(removed), tuple(sorted(wanted))))
    deadline = time.monotonic() + settle_s
    wanted_of = {c.node: set(c.wanted) for c in changes}
    while True:
        stray = {n.name: n.peer_ids() - wanted_of[n.name] for n in net.nodes if n.running()}
        if not any(stray.values()):
            return changes
        if time.monotonic() > deadline:
            raise NetworkError(f"unwanted peer links still up after {settle_s:.0f} s: {stray}")
        for n in net.nodes:
            for i in stray.get(n.name, ()):
                n.rpc("admin_removePeer", known.get(i) or f"enode://{i}@127.0.0.1:0")
        time.sleep(0.5)
