"""One geth node of the consortium network: its data directory, process and IPC endpoint.

Layout of a node's directory (``<network dir>/<name>/``)::

    nodekey        devp2p node key (hex, mode 0600): the node's enode id
    keystore/      the sealer key (ledger.crypto.keystore.Keystore, label ``sealer``; geth reads the
                   same v3 files), unlocked by the network's passphrase file
    config.toml    ``[Node.P2P] StaticNodes``: the peers allowed and dialled (geth ≥ 1.12 ignores
                   static-nodes.json; this file is the "static-nodes file")
    geth/          chain data (``geth init`` once; a restart resumes from it)
    geth.ipc       the IPC socket: the only place where ``admin``, ``clique``, ``personal``, ``miner``
                   are served (HTTP serves eth, net, web3, txpool only)
    geth.log       the node's log; geth.pid its process id while it runs

The process is started in its own session and found again through ``geth.pid`` (checked against
``/proc/<pid>/cmdline`` so a recycled pid is never signalled), so a network started by one command
(``carbonledger network up``) is stopped by another (``network down``).

By default a node binds its P2P, HTTP and auth RPC on the loopback. A node may instead be placed in
a Linux network namespace that the caller made (:class:`Placement`; the fault tests do, so that a
link can be cut by taking an interface down): geth then runs under ``ip netns exec NS``, listens
for peers on ``p2p_host`` (advertised with ``--nat extip:<p2p_host>``; its enode carries that
address), serves HTTP on ``rpc_host`` and auth RPC on the namespace's own loopback. The IPC socket
is a file, reachable from every namespace.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Longest Unix socket path Linux accepts (sun_path is 108 bytes with the terminating NUL).
MAX_IPC_PATH = 107
#: geth's state cache per node, MB (its default 1024 is sized for mainnet; 4 nodes share 2 cores here).
CACHE_MB = 128
#: Transaction-pool sizes: the ledger's writers batch hundreds of transactions from one account
#: (ChainClient.send_all), far above geth's public-network default of 16 pending per account.
TXPOOL_ARGS = ("--txpool.accountslots", "4096", "--txpool.globalslots", "16384",
               "--txpool.accountqueue", "1024", "--txpool.globalqueue", "4096")


class NodeError(RuntimeError):
    """A node could not be started, stopped or reached (the message says which and why)."""


class RpcError(NodeError):
    """A JSON-RPC call returned an error object."""


def ipc_call(path: Path, method: str, *params: Any, timeout: float = 10.0) -> Any:
    """One JSON-RPC request over geth's IPC socket; returns ``result``.

    Raises:
        NodeError: the socket is absent or does not answer within ``timeout``.
        RpcError: the node answered with an error.
    """
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    decoder = json.JSONDecoder()
    buf = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(request)
            while True:
                chunk = s.recv(1 << 16)
                if not chunk:
                    raise NodeError(f"{path} closed the connection during {method}")
                buf += chunk
                try:
                    reply, _ = decoder.raw_decode(buf.decode())
                    break
                except ValueError:
                    continue
    except OSError as exc:
        raise NodeError(f"IPC {path}: {method}: {exc}") from None
    if reply.get("error"):
        raise RpcError(f"{method}: {reply['error'].get('message', reply['error'])}")
    return reply.get("result")


_ENODE = re.compile(r"^enode://([0-9a-f]{128})@")


def enode_id_of(enode: str) -> str:
    """The 128-hex-digit node id of an ``enode://`` URL.

    Raises:
        ValueError: not an enode URL.
    """
    m = _ENODE.match(enode)
    if not m:
        raise ValueError(f"not an enode URL: {enode!r}")
    return m.group(1)


@dataclass(frozen=True)
class Placement:
    """Where a node runs when not on the host's loopback: a network namespace the caller made.

    Attributes:
        netns: the namespace name (``ip netns add``; geth runs under ``ip netns exec <netns>``;
            running it needs CAP_SYS_ADMIN, i.e. root).
        p2p_host: the namespace's address that peers reach it on (its enode's host).
        rpc_host: the namespace's address HTTP JSON-RPC binds to, reachable from the caller's namespace.
    """

    netns: str
    p2p_host: str
    rpc_host: str


@dataclass(frozen=True)
class NodeSpec:
    """What the network manifest records of one node (``network.json``).

    ``netns``, ``p2p_host`` and ``rpc_host`` are the node's :class:`Placement`; ``netns`` empty means
    the host's namespace with both hosts 127.0.0.1 (the default, and manifests written before them).
    """

    name: str
    organisation: str
    p2p_port: int
    http_port: int
    authrpc_port: int
    enode_id: str
    sealer: str
    netns: str = ""
    p2p_host: str = "127.0.0.1"
    rpc_host: str = "127.0.0.1"

    @property
    def enode(self) -> str:
        """``enode://<id>@<p2p host>:<p2p port>``."""
        return f"enode://{self.enode_id}@{self.p2p_host}:{self.p2p_port}"


class GethNode:
    """A geth v1.13.15 Clique sealer node of the network in ``network_dir``.

    Args:
        binary: the geth binary (ledger.network.install.geth_binary).
        network_dir: the network's directory; the node lives in ``network_dir / spec.name``.
        spec: ports, enode id and sealer address.
        chain_id: the chain id (also the devp2p network id).
        gas_limit: the block gas limit the node aims at when sealing.
        passphrase_file: unlocks the sealer key (mode 0600).
    """

    def __init__(self, binary: Path, network_dir: Path, spec: NodeSpec, chain_id: int, gas_limit: int,
                 passphrase_file: Path) -> None:
        self.binary, self.spec, self.chain_id, self.gas_limit = binary, spec, chain_id, gas_limit
        self.dir = network_dir / spec.name
        self.passphrase_file = passphrase_file
        self._log_offset = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def ipc_path(self) -> Path:
        return self.dir / "geth.ipc"

    @property
    def http_url(self) -> str:
        """JSON-RPC over HTTP on the loopback (or the placement's ``rpc_host``): eth, net, web3, txpool only."""
        return f"http://{self.spec.rpc_host}:{self.spec.http_port}"

    @property
    def log_path(self) -> Path:
        return self.dir / "geth.log"

    @property
    def pid_path(self) -> Path:
        return self.dir / "geth.pid"

    def initialised(self) -> bool:
        """Whether ``geth init`` has written the chain data."""
        return (self.dir / "geth" / "chaindata").is_dir()

    def init(self, genesis_path: Path) -> None:
        """``geth init`` the data directory with the genesis (once; nothing if already done).

        Raises:
            NodeError: geth refused the genesis (its output in the message).
        """
        if self.initialised():
            return
        proc = subprocess.run([str(self.binary), "--datadir", str(self.dir), "--state.scheme", "hash", "init",
                               str(genesis_path)], capture_output=True, text=True, check=False, timeout=120)
        if proc.returncode != 0:
            raise NodeError(f"geth init of {self.name} failed:\n{proc.stderr[-2000:]}")

    def args(self) -> list[str]:
        """The geth command line (module docstring; README "A consortium network"), under
        ``ip netns exec`` when the node is placed in a namespace."""
        s = self.spec
        if s.netns:
            prefix = ["ip", "netns", "exec", s.netns]
            nat = ["--nat", f"extip:{s.p2p_host}"]
        else:
            prefix, nat = [], ["--nat", "none"]
        return [
            *prefix, str(self.binary), "--datadir", str(self.dir), "--config", str(self.dir / "config.toml"),
            "--networkid", str(self.chain_id), "--nodekey", str(self.dir / "nodekey"),
            "--syncmode", "full", "--gcmode", "archive", "--state.scheme", "hash", "--cache", str(CACHE_MB),
            "--port", str(s.p2p_port), "--nodiscover", *nat,
            "--http", "--http.addr", s.rpc_host, "--http.port", str(s.http_port), "--http.api", "eth,net,web3,txpool",
            "--authrpc.addr", "127.0.0.1", "--authrpc.port", str(s.authrpc_port),
            "--ipcpath", str(self.ipc_path),
            "--keystore", str(self.dir / "keystore"), "--unlock", s.sealer, "--password", str(self.passphrase_file),
            # geth refuses to unlock any key while HTTP is served unless told so; the sealer key has no
            # balance and no role, and personal/admin/clique are not served over HTTP.
            "--allow-insecure-unlock",
            # no --mine: sealing starts by `miner_start` once the node is connected (start_sealing), since
            # Clique sealers that seal before they see each other fork and then all wait on
            # "signed recently" for a block that never comes.
            "--miner.etherbase", s.sealer, "--miner.gaslimit", str(self.gas_limit), "--miner.gasprice", "1",
            *TXPOOL_ARGS, "--verbosity", "3",
        ]

    def pid(self) -> int | None:
        """The pid of this node's running geth, or None (stale pid files are ignored)."""
        try:
            pid = int(self.pid_path.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        if str(self.dir).encode() not in cmdline or not cmdline[0].endswith(b"geth"):
            # the process this object just launched may not have exec'd geth yet (its cmdline is
            # still the parent's, or `ip netns exec`'s): it runs if it has not exited
            launched = getattr(self, "_launched", None)
            if launched is None or launched.pid != pid or launched.poll() is not None:
                return None
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        return None if stat.rsplit(")", 1)[1].split()[0] == "Z" else pid

    def running(self) -> bool:
        return self.pid() is not None

    def start(self, timeout: float = 60.0) -> None:
        """Start geth on the existing data directory and wait until its IPC answers
        (:meth:`launch`, then :meth:`wait_ready`).

        Raises:
            NodeError: as :meth:`launch` and :meth:`wait_ready`.
        """
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start geth in the background (its own session; pid in ``geth.pid``, log in ``geth.log``).
        Nothing if it already runs.

        Raises:
            NodeError: no chain data yet, a port is taken, or the IPC path is too long.
        """
        if self.running():
            return
        if not self.initialised():
            raise NodeError(f"{self.dir} has no chain data; create the network first")
        if len(str(self.ipc_path)) > MAX_IPC_PATH:
            raise NodeError(f"IPC path {self.ipc_path} is longer than {MAX_IPC_PATH} bytes (a Unix socket limit); "
                            "use a shorter data directory")
        for host, port in ((self.spec.p2p_host, self.spec.p2p_port), (self.spec.rpc_host, self.spec.http_port),
                           ("127.0.0.1", self.spec.authrpc_port)):
            with socket.socket() as s:
                s.settimeout(2.0)
                if s.connect_ex((host, port)) == 0:
                    raise NodeError(f"port {port} of {self.name} is taken by another process")
        self.ipc_path.unlink(missing_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(self.args(), stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self._launched = proc
        self.pid_path.write_text(str(proc.pid))

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the launched node answers on IPC and has unlocked its sealer key.

        Raises:
            NodeError: geth exited, or did not answer within ``timeout`` (then it is killed); the
                last lines of its log are in the message.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise NodeError(f"geth of {self.name} is not running (exited?):\n{self._log_tail()}")
            if self.ipc_path.exists():
                try:
                    self.rpc("eth_blockNumber")
                    with open(self.log_path, "rb") as fh:
                        fh.seek(self._log_offset)
                        if b"Unlocked account" in fh.read():
                            return
                except NodeError:
                    pass
            time.sleep(0.2)
        self.kill()
        raise NodeError(f"geth of {self.name} did not answer on {self.ipc_path} within {timeout:.0f} s:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM (geth flushes its state and exits), then SIGKILL after ``timeout``. Nothing if not running."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        if not self._wait_exit(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            self._wait_exit(pid, 10.0)
        self.pid_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the node (a crash: geth replays its unflushed blocks on the next start). Nothing if not running."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        self._wait_exit(pid, 10.0)
        self.pid_path.unlink(missing_ok=True)

    @staticmethod
    def _wait_exit(pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                return True
            if state == "Z":
                return True
            time.sleep(0.1)
        return False

    def start_sealing(self) -> None:
        """``miner_start`` (IPC): seal blocks with the unlocked sealer key whenever Clique lets this
        sealer (a node whose key is not a signer tries and logs "unauthorized signer")."""
        self.rpc("miner_start")

    def sealing(self) -> bool:
        """``eth_mining``: whether the node is trying to seal."""
        return bool(self.rpc("eth_mining"))

    @property
    def config_path(self) -> Path:
        return self.dir / "config.toml"

    def static_nodes(self) -> list[str]:
        """The enodes in the node's static-nodes file (``config.toml`` ``[Node.P2P] StaticNodes``)."""
        m = re.search(r"^StaticNodes = (\[.*\])$", self.config_path.read_text(), re.M) if self.config_path.exists() else None
        return list(json.loads(m.group(1))) if m else []

    def set_static_nodes(self, enodes: list[str]) -> None:
        """Rewrite the static-nodes file (a temporary file, then renamed); read by geth at start."""
        body = "[Node.P2P]\nStaticNodes = [" + ", ".join(json.dumps(e) for e in enodes) + "]\n"
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(body)
        tmp.replace(self.config_path)

    def peer_ids(self) -> set[str]:
        """Node ids (128 hex digits) of the peers connected now; empty if the node does not answer."""
        try:
            return {enode_id_of(p["enode"]) for p in self.rpc("admin_peers")}
        except NodeError:
            return set()

    def rpc(self, method: str, *params: Any, timeout: float = 10.0) -> Any:
        """A JSON-RPC call over this node's IPC socket (every API, admin and clique included)."""
        return ipc_call(self.ipc_path, method, *params, timeout=timeout)
