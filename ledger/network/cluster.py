"""The consortium network: N geth Clique sealer nodes in one directory, created, started, watched,
voted on and stopped by the project (the API is summarised in ledger/network/__init__.py).

Directory layout (``root``)::

    network.json         the manifest: chain id, period, epoch, gas limit, and per node its name,
                         organisation, ports, enode id and sealer address
    genesis.json         the Clique genesis (ledger.network.genesis.clique_genesis)
    keystore.passphrase  random passphrase of every keystore of the network (mode 0600)
    keystore/            the organisations' funded ledger accounts (labels = organisation names)
    node-1/ … node-N/    one node each (ledger.network.node)

Clique votes (EIP-225): a sealer is added or removed when more than half of the current sealers
have voted for it (``clique_propose`` on each voter, IPC only); each vote rides in a block its
voter seals, so a vote takes a few rounds of the sealers. A checkpoint (every ``epoch`` blocks)
drops votes still pending.

Stalls (:meth:`Network.resolve_stall`): Clique settles forks by total difficulty only, and geth's
downloader syncs only from a peer whose total difficulty is *higher* than its own. After a 2 | 2
partition heals, the two forks can have the same total difficulty while every sealer has signed
one of the last ⌊S/2⌋+1 blocks of its own fork ("signed recently"): no node imports the other fork
and no node may seal the block that would break the tie, so the network stalls for good. Clique
cannot leave that state by itself; the remedy keeps one fork and rewinds the nodes of the others
(``debug_setHead``, IPC only) to the common ancestor, from where they import the kept fork and seal on it.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ledger.chain.anvil import free_port
from ledger.crypto.keystore import DEFAULT_SCRYPT_N, Keystore
from ledger.crypto.primitives import new_private_key, to_checksum
from ledger.network.genesis import (
    DEFAULT_BALANCE_WEI,
    DEFAULT_CHAIN_ID,
    DEFAULT_EPOCH,
    DEFAULT_GAS_LIMIT,
    DEFAULT_PERIOD_S,
    check_period,
    clique_genesis,
    enode_id,
    organisation_names,
)
from ledger.network.node import GethNode, NodeError, NodeSpec, Placement, enode_id_of

MANIFEST = "network.json"
#: Keystore label of a node's sealer key.
SEALER_LABEL = "sealer"


class NetworkError(RuntimeError):
    """The network directory or an operation on the network is invalid (the message says why)."""


@dataclass(frozen=True)
class NodeStatus:
    """One row of ``network status``.

    Attributes:
        running: whether the node's process is up and answers on IPC.
        head: its latest block number (None when down).
        peers: connected peers (None when down).
        sealer: whether its sealer address is among the current Clique signers (as this node sees them).
        lag: blocks behind the highest head of the running nodes (None when down).
    """

    name: str
    organisation: str
    running: bool
    head: int | None
    peers: int | None
    sealer: bool | None
    lag: int | None
    sealer_address: str
    http_url: str


@dataclass(frozen=True)
class Fork:
    """One chain head that running nodes follow.

    Attributes:
        head: block number of the head. head_hash: its hash (0x hex).
        total_difficulty: the head's total difficulty (Clique: 2 per in-turn block, 1 per out-of-turn one).
        nodes: names of the running nodes whose head it is.
    """

    head: int
    head_hash: str
    total_difficulty: int
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class StallResolution:
    """What :meth:`Network.resolve_stall` did.

    Attributes:
        forks: every head the running nodes followed when the stall was found, the kept one first.
        kept: the fork kept (:meth:`Network.choose_fork`).
        ancestors: rewound node name → the block number it was rewound to (its common ancestor with the kept fork).
        resumed_head: the head once sealing had resumed (a block above the kept fork's head on every node).
    """

    forks: tuple[Fork, ...]
    kept: Fork
    ancestors: dict[str, int]
    resumed_head: int

    @property
    def rewound(self) -> list[str]:
        return sorted(self.ancestors)


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _check_dir(root: Path) -> Path:
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise NetworkError(f"data dir {root} exists and is not a directory")
    return root.resolve()


class Network:
    """A Clique network in ``root`` (module docstring). Build one with :meth:`create` or :meth:`up`,
    reopen one with :meth:`open`.

    Args:
        root: the network directory (holding ``network.json``).
        binary: the geth binary (ledger.network.install.geth_binary).
    """

    def __init__(self, root: Path, binary: Path) -> None:
        self.root, self.binary = _check_dir(root), Path(binary)
        try:
            m = json.loads((self.root / MANIFEST).read_text())
        except FileNotFoundError:
            raise NetworkError(f"{self.root} holds no network ({MANIFEST} missing); run `network up` first") from None
        except ValueError as exc:
            raise NetworkError(f"{self.root / MANIFEST} does not parse: {exc}") from None
        self.chain_id: int = m["chain_id"]
        self.period: int = m["period"]
        self.epoch: int = m["epoch"]
        self.gas_limit: int = m["gas_limit"]
        self.specs = [NodeSpec(**n) for n in m["nodes"]]
        self.nodes = [GethNode(self.binary, self.root, s, self.chain_id, self.gas_limit, self.passphrase_file)
                      for s in self.specs]

    # ----------------------------------------------------------------------------- creating

    @classmethod
    def create(cls, root: Path, binary: Path, nodes: int = 4, *, period: int = DEFAULT_PERIOD_S,
               chain_id: int = DEFAULT_CHAIN_ID, epoch: int = DEFAULT_EPOCH, gas_limit: int = DEFAULT_GAS_LIMIT,
               alloc: Mapping[str, int] | None = None, scrypt_n: int = DEFAULT_SCRYPT_N,
               placement: Sequence[Placement] | None = None) -> Network:
        """Write a new network into ``root``: keys, genesis, manifest, and ``geth init`` of every node.

        Args:
            nodes: 1..16 nodes, one organisation each (ledger.network.genesis.organisation_names);
                every node is a sealer from block 1.
            period: seconds between blocks (≥ 0). chain_id, epoch, gas_limit: as
                :func:`ledger.network.genesis.clique_genesis`.
            alloc: more accounts to fund at genesis (address → wei), besides the organisations' accounts
                (:data:`ledger.network.genesis.DEFAULT_BALANCE_WEI` each).
            scrypt_n: scrypt cost of the keystores written (tests pass a cheap one).
            placement: one :class:`ledger.network.node.Placement` per node, in node order: run each
                node in a network namespace the caller made (the fault tests); None = the loopback.
                Recorded in the manifest, so a restart runs the node there again.

        Raises:
            NetworkError: ``root`` is a file or already holds a network, or ``placement`` does not
                have one entry per node.
            GenesisError: a parameter is out of range.
            NodeError: geth refused the genesis.
        """
        root = _check_dir(root)
        orgs = organisation_names(nodes)
        if placement is not None and len(placement) != nodes:
            raise NetworkError(f"placement names {len(placement)} places for {nodes} nodes")
        clique_genesis(chain_id, ["0x" + "00" * 20], alloc or {}, period=period, epoch=epoch, gas_limit=gas_limit)
        if (root / MANIFEST).exists():
            raise NetworkError(f"{root} already holds a network; open it, or choose an empty directory")
        if root.exists() and any(root.iterdir()):
            raise NetworkError(f"data dir {root} is not empty and holds no network; choose an empty directory")
        try:
            root.mkdir(parents=True, exist_ok=True)
            passphrase = root / "keystore.passphrase"
            if not passphrase.exists():
                _write_secret(passphrase, secrets.token_urlsafe(32))
        except OSError as exc:
            raise NetworkError(f"cannot write the data dir {root}: {exc}") from None
        secret = passphrase.read_text().strip()
        accounts = Keystore(root / "keystore", secret, scrypt_n)
        funded: dict[str, int] = {}
        for org in orgs:
            funded[accounts.add(org, new_private_key())] = DEFAULT_BALANCE_WEI
        for addr, wei in (alloc or {}).items():
            funded[to_checksum(addr)] = wei
        ports = iter(_free_ports(3 * nodes))
        specs: list[NodeSpec] = []
        for i, org in enumerate(orgs, start=1):
            node_dir = root / f"node-{i}"
            node_dir.mkdir(exist_ok=True)
            node_key = new_private_key()
            _write_secret(node_dir / "nodekey", node_key.hex())
            sealer = Keystore(node_dir / "keystore", secret, scrypt_n).add(SEALER_LABEL, new_private_key())
            where = asdict(placement[i - 1]) if placement is not None else {}
            specs.append(NodeSpec(name=f"node-{i}", organisation=org, p2p_port=next(ports), http_port=next(ports),
                                  authrpc_port=next(ports), enode_id=enode_id(node_key), sealer=sealer, **where))
        genesis = clique_genesis(chain_id, [s.sealer for s in specs], funded, period=period, epoch=epoch,
                                 gas_limit=gas_limit)
        (root / "genesis.json").write_text(json.dumps(genesis, indent=2))
        for s in specs:
            GethNode(Path(binary), root, s, chain_id, gas_limit, passphrase).set_static_nodes(
                [o.enode for o in specs if o.name != s.name])
        manifest = {"engine": "geth-clique", "chain_id": chain_id, "period": period, "epoch": epoch,
                    "gas_limit": gas_limit, "nodes": [asdict(s) for s in specs]}
        tmp = root / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2))
        for s in specs:
            GethNode(Path(binary), root, s, chain_id, gas_limit, passphrase).init(root / "genesis.json")
        tmp.replace(root / MANIFEST)
        return cls(root, binary)

    @classmethod
    def open(cls, root: Path, binary: Path) -> Network:
        """The network already written in ``root``.

        Raises:
            NetworkError: ``root`` holds no network.
        """
        return cls(root, binary)

    @classmethod
    def up(cls, root: Path, binary: Path, nodes: int = 4, *, period: int = DEFAULT_PERIOD_S,
           timeout: float = 120.0, **create_args: object) -> Network:
        """Create the network in ``root`` if it holds none (else reopen it: a restart resumes from the
        data directories), start every node and wait until all are connected to each other.

        Raises:
            NetworkError: ``root`` is a file, or holds a network of another size or period.
            GenesisError, NodeError: as :meth:`create` and :meth:`start`.
        """
        organisation_names(nodes)
        check_period(period)
        root = _check_dir(root)
        if (root / MANIFEST).exists():
            net = cls(root, binary)
            if len(net.nodes) != nodes or net.period != period:
                raise NetworkError(f"{root} holds a network of {len(net.nodes)} nodes and period {net.period} s, "
                                   f"not {nodes} and {period} s; choose another data dir")
        else:
            net = cls.create(root, binary, nodes, period=period, **create_args)  # type: ignore[arg-type]
        net.start(timeout=timeout)
        return net

    # ----------------------------------------------------------------------------- the API for the ledger

    @property
    def passphrase_file(self) -> Path:
        return self.root / "keystore.passphrase"

    @property
    def rpc_urls(self) -> list[str]:
        """HTTP JSON-RPC URL of every node, in node order (eth, net, web3, txpool)."""
        return [n.http_url for n in self.nodes]

    @property
    def ipc_paths(self) -> list[Path]:
        """IPC socket of every node, in node order (every API, admin and clique included)."""
        return [n.ipc_path for n in self.nodes]

    @property
    def organisations(self) -> list[str]:
        return [s.organisation for s in self.specs]

    def account_keys(self) -> dict[str, bytes]:
        """Organisation name → private key of its funded ledger account (from the keystore)."""
        return Keystore(self.root / "keystore", self.passphrase_file.read_text().strip()).unlock_all()

    def accounts(self) -> dict[str, str]:
        """Organisation name → address of its funded ledger account."""
        return Keystore(self.root / "keystore", self.passphrase_file.read_text().strip()).labels()

    def node(self, which: str | int) -> GethNode:
        """A node by name (``node-2``), organisation (``exchange``) or 0-based index.

        Raises:
            NetworkError: no such node.
        """
        for i, n in enumerate(self.nodes):
            if which in (i, n.name, n.spec.organisation):
                return n
        raise NetworkError(f"no node {which!r}; nodes: {', '.join(n.name for n in self.nodes)}")

    # ----------------------------------------------------------------------------- processes

    def start(self, timeout: float = 120.0) -> None:
        """Start every node that is not running, wait until each has a peer connection to every
        other running node, then let every node seal (``miner_start``).

        Raises:
            NodeError: a node did not start.
            NetworkError: the peers did not connect within ``timeout``.
        """
        for n in self.nodes:
            n.launch()
        for n in self.nodes:
            n.wait_ready()
        self.connect(timeout=timeout)
        for n in self.nodes:
            n.start_sealing()

    def connect(self, timeout: float = 120.0) -> None:
        """Dial, from every running node, the running nodes in its static-nodes file
        (``admin_addPeer``; geth would dial them in time anyway) and wait until all those links are up.
        At creation every node lists every other; :func:`ledger.network.permissioning.reconcile`
        narrows the lists to the admitted organisations' nodes.

        Raises:
            NetworkError: not all connected within ``timeout``.
        """
        up = {n.spec.enode_id: n for n in self.nodes if n.running()}
        wanted = {n.name: {e for e in n.static_nodes() if enode_id_of(e) in up} for n in up.values()}
        for n in up.values():
            for e in wanted[n.name]:
                n.rpc("admin_addPeer", e)
        deadline = time.monotonic() + timeout
        while True:
            missing = {n.name: sorted({enode_id_of(e) for e in wanted[n.name]} - n.peer_ids()) for n in up.values()}
            if not any(missing.values()):
                return
            if time.monotonic() > deadline:
                raise NetworkError(f"peers not connected after {timeout:.0f} s: {missing}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop every node (SIGTERM; geth writes its state). The data directories stay."""
        for n in self.nodes:
            n.stop()

    def kill(self, which: str | int) -> None:
        """SIGKILL one node (a crash)."""
        self.node(which).kill()

    def restart(self, which: str | int, timeout: float = 120.0) -> None:
        """Start one node again (after :meth:`kill` or a stop) from its data directory, reconnect it
        and let it seal (it catches up first: geth's miner waits while the node syncs)."""
        node = self.node(which)
        node.start()
        self.connect(timeout=timeout)
        node.start_sealing()

    # ----------------------------------------------------------------------------- reading

    def head(self, which: str | int) -> int:
        return int(self.node(which).rpc("eth_blockNumber"), 16)

    def signers(self, which: str | int = 0) -> list[str]:
        """Current Clique signers as node ``which`` sees them (``clique_getSigners``), checksummed."""
        return [to_checksum(a) for a in self.node(which).rpc("clique_getSigners")]

    def status(self) -> list[NodeStatus]:
        """One :class:`NodeStatus` per node (down nodes have None fields)."""
        raw: list[tuple[GethNode, int | None, int | None, bool | None]] = []
        for n in self.nodes:
            try:
                head = int(n.rpc("eth_blockNumber"), 16)
                peers = len(n.rpc("admin_peers"))
                sealer = n.spec.sealer.lower() in {a.lower() for a in n.rpc("clique_getSigners")}
                raw.append((n, head, peers, sealer))
            except NodeError:
                raw.append((n, None, None, None))
        top = max((h for _, h, _, _ in raw if h is not None), default=None)
        return [NodeStatus(name=n.name, organisation=n.spec.organisation, running=h is not None, head=h, peers=p,
                           sealer=s, lag=None if h is None or top is None else top - h,
                           sealer_address=n.spec.sealer, http_url=n.http_url) for n, h, p, s in raw]

    def wait_blocks(self, count: int, nodes: Iterable[str | int] | None = None, timeout: float = 120.0) -> int:
        """Wait until every given node (default: all running ones) is ``count`` blocks past the
        highest head seen now; returns that target height.

        Raises:
            NetworkError: not reached within ``timeout``.
        """
        chosen = [self.node(w) for w in nodes] if nodes is not None else [n for n in self.nodes if n.running()]
        target = max(int(n.rpc("eth_blockNumber"), 16) for n in chosen) + count
        deadline = time.monotonic() + timeout
        while True:
            heads = {n.name: int(n.rpc("eth_blockNumber"), 16) for n in chosen}
            if min(heads.values()) >= target:
                return target
            if time.monotonic() > deadline:
                raise NetworkError(f"block {target} not reached in {timeout:.0f} s: heads {heads}")
            time.sleep(0.3)

    # ----------------------------------------------------------------------------- stalls

    def default_quiet_s(self) -> float:
        """How long without a new block :meth:`find_stall` takes for a stall: 5 block periods + 5 s
        (an out-of-turn Clique sealer waits at most (⌊S/2⌋+1) × 0.5 s beyond the period; the margin
        covers a busy machine). A network with period 0 seals only when there are transactions, so
        there quiet heads are not a stall by themselves — only quiet heads on several forks are."""
        return 5.0 * max(self.period, 1) + 5.0

    def forks(self) -> list[Fork]:
        """The heads the running nodes follow now, one :class:`Fork` per distinct head hash, in
        the order :meth:`choose_fork` ranks them (the one to keep first)."""
        tips: dict[str, tuple[int, int, list[str]]] = {}
        for n in self.nodes:
            try:
                b = n.rpc("eth_getBlockByNumber", "latest", False)
            except NodeError:
                continue
            number, td, names = tips.setdefault(b["hash"], (int(b["number"], 16), int(b["totalDifficulty"], 16), []))
            names.append(n.name)
        return self.choose_fork([Fork(number, h, td, tuple(names)) for h, (number, td, names) in tips.items()])

    @staticmethod
    def choose_fork(forks: Iterable[Fork]) -> list[Fork]:
        """Rank forks, the one to keep first: the higher total difficulty (what Clique's fork
        choice would keep if it could decide); on a tie, the one more running nodes follow (fewer
        nodes to rewind, fewer writes to re-send); on a tie again (2 | 2), the lower head hash
        (as a 256-bit number) — a rule that needs no clock, no vote and no knowledge of which
        node answered first, so every operator who runs ``network heal`` on the same heads keeps
        the same fork."""
        return sorted(forks, key=lambda f: (-f.total_difficulty, -len(f.nodes), int(f.head_hash, 16)))

    def find_stall(self, quiet: float | None = None, poll: float = 0.5) -> list[Fork] | None:
        """Watch the running nodes' heads for ``quiet`` seconds (default :meth:`default_quiet_s`):
        a stall is no head moving in that time while the nodes follow more than one head.

        Returns:
            the forks, ranked by :meth:`choose_fork`, if stalled; None if a head moved or every
            running node follows one head (then nothing is to be resolved by a rewind: a network
            with too few sealers up stalls on one head).
        """
        quiet = self.default_quiet_s() if quiet is None else quiet
        first = self.forks()
        deadline = time.monotonic() + quiet
        while time.monotonic() < deadline:
            time.sleep(poll)
            if self.forks() != first:
                return None
        return first if len(first) > 1 else None

    def resolve_stall(self, quiet: float | None = None, timeout: float = 120.0) -> StallResolution | None:
        """Find a stall (:meth:`find_stall`) and end it: keep the first fork of
        :meth:`choose_fork`; on every running node that follows another fork, stop sealing
        (``miner_stop``), rewind to the common ancestor with the kept fork (``debug_setHead``, over
        IPC: the debug API is never served over HTTP), re-add its peers (``admin_addPeer``, the peers
        of its static-nodes file; those on the kept fork dropped first with ``admin_removePeer``, so
        a new handshake carries the kept fork's total difficulty and geth syncs from them), wait until it has imported the kept head, then let it seal again
        (``miner_start``). Its sealer signed nothing on the kept fork after the ancestor, so Clique
        lets it seal the next block, and sealing resumes. The writes that were only in the rewound
        blocks are lost to the chain; a chain client's journal re-sends them as the same signed bytes
        (:meth:`ledger.chain.client.ChainClient.refresh_finality`).

        Returns:
            what was done, or None if there was no stall.

        Raises:
            NetworkError: no common ancestor found, the rewound nodes did not import the kept
                fork, or sealing did not resume within ``timeout`` (e.g. the links are still cut).
        """
        stalled = self.find_stall(quiet)
        if stalled is None:
            return None
        kept, others = stalled[0], stalled[1:]
        reference = self.node(kept.nodes[0])
        ancestors: dict[str, int] = {}
        for fork in others:
            for name in fork.nodes:
                ancestors[name] = self._common_ancestor(reference, self.node(name), min(kept.head, fork.head))
        rewound = [self.node(name) for name in ancestors]
        try:
            for n in rewound:
                n.rpc("miner_stop")
                n.rpc("debug_setHead", hex(ancestors[n.name]))
            running = {x.spec.enode_id for x in self.nodes if x.running()}
            keepers = {self.node(name).spec.enode_id for name in kept.nodes}
            for n in rewound:
                for e in n.static_nodes():
                    if enode_id_of(e) in keepers:
                        n.rpc("admin_removePeer", e)       # a new handshake: the kept fork's total difficulty
                    if enode_id_of(e) in running:
                        n.rpc("admin_addPeer", e)
            deadline = time.monotonic() + timeout
            while not all(self._hash_at(n, kept.head) == kept.head_hash for n in rewound):
                if time.monotonic() > deadline:
                    raise NetworkError(f"rewound nodes did not import the kept head {kept.head} {kept.head_hash} within "
                                       f"{timeout:.0f} s (are the links up?): {self.forks()}")
                time.sleep(0.5)
        finally:
            for n in rewound:
                try:
                    n.rpc("miner_start")
                except NodeError:
                    pass
        resumed = self.wait_blocks(1, timeout=timeout)
        return StallResolution(tuple(stalled), kept, ancestors, resumed)

    @staticmethod
    def _hash_at(node: GethNode, number: int) -> str | None:
        b = node.rpc("eth_getBlockByNumber", hex(number), False)
        return b and b["hash"]

    def _common_ancestor(self, a: GethNode, b: GethNode, below: int) -> int:
        """The highest block number ≤ ``below`` with the same hash on nodes ``a`` and ``b``.

        Raises:
            NetworkError: none within one epoch (Clique checkpoints; a longer fork is no stall to rewind).
        """
        for number in range(below, max(below - self.epoch, -1), -1):
            if self._hash_at(a, number) == self._hash_at(b, number):
                return number
        raise NetworkError(f"{a.name} and {b.name} share no block in the {self.epoch} blocks below {below}")

    # ----------------------------------------------------------------------------- Clique votes

    def add_sealer(self, which: str | int, timeout: float = 180.0) -> list[str]:
        """Vote node ``which``'s sealer key in (:meth:`vote`); returns the new signer list."""
        return self.vote(self.node(which).spec.sealer, True, timeout=timeout)

    def remove_sealer(self, which: str | int, timeout: float = 180.0) -> list[str]:
        """Vote node ``which``'s sealer key out (:meth:`vote`); returns the new signer list."""
        return self.vote(self.node(which).spec.sealer, False, timeout=timeout)

    def vote(self, address: str, authorize: bool, timeout: float = 180.0) -> list[str]:
        """Clique vote by a majority of the current sealers: ``clique_propose(address, authorize)`` on
        ⌊S/2⌋+1 running sealer nodes (the target itself last), wait until every running node's
        ``clique_getSigners`` shows the change, then withdraw the proposals (``clique_discard``).

        Raises:
            NetworkError: nothing to change (already a signer / not one), removing the last signer,
                fewer running sealers than a majority, or the change not seen within ``timeout``.
        """
        address = to_checksum(address)
        running = [n for n in self.nodes if n.running()]
        if not running:
            raise NetworkError("no node is running")
        signers = self.signers(running[0].name)
        if authorize == (address in signers):
            raise NetworkError(f"{address} is {'already' if authorize else 'not'} a signer")
        if not authorize and len(signers) == 1:
            raise NetworkError("cannot vote out the last signer: nothing would seal")
        need = len(signers) // 2 + 1
        voters = [n for n in running if n.spec.sealer in signers and n.spec.sealer != address]
        voters += [n for n in running if n.spec.sealer == address and n.spec.sealer in signers]
        if len(voters) < need:
            raise NetworkError(f"a vote needs {need} of {len(signers)} sealers running; {len(voters)} are")
        voters = voters[:need]
        for n in voters:
            n.rpc("clique_propose", address, authorize)
        deadline = time.monotonic() + timeout
        try:
            while True:
                views = {n.name: self.signers(n.name) for n in self.nodes if n.running()}
                if all((address in v) == authorize for v in views.values()):
                    return views[running[0].name]
                if time.monotonic() > deadline:
                    raise NetworkError(f"vote on {address} not applied within {timeout:.0f} s: signers {views}")
                time.sleep(0.5)
        finally:
            for n in voters:
                try:
                    n.rpc("clique_discard", address)
                except NodeError:
                    pass


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports
