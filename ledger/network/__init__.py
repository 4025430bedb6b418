"""The consortium network: go-ethereum v1.13.15 Clique proof-of-authority nodes run by the project,
one sealer node per organisation (regulator, exchange, verifier organisations).

Modules: ``install`` (find or build the pinned geth), ``genesis`` (Clique genesis, node keys,
enodes), ``node`` (one geth process, its data directory and IPC), ``cluster`` (the network:
create, start, stop, kill, restart, status, Clique votes).

The API the ledger (and its tests) use to run on a network::

    from ledger.network import Network, geth_binary

    net = Network.up(Path("D"), geth_binary(PROJECT_ROOT), nodes=4, period=1)
    net.rpc_urls        # ["http://127.0.0.1:<port>", …] one per node: eth, net, web3, txpool
    net.ipc_paths       # [Path("D/node-1/geth.ipc"), …] one per node: every API (admin, clique, …)
    net.chain_id        # int (default 20071)
    net.account_keys()  # {"regulator": b"…32 bytes", "exchange": …, "verifier-1": …, "verifier-2": …}
                        #   funded with 10^24 wei each at genesis (alloc= funds more addresses)
    net.kill("node-2")  # SIGKILL one node (by name, organisation or 0-based index)
    net.restart("node-2")  # start it again from its data dir and reconnect it
    net.stop()          # SIGTERM every node; Network.up(D, …) or Network.open(D, …).start() resumes
    net.status()        # [NodeStatus(name, organisation, running, head, peers, sealer, lag, …)]
    net.signers()       # clique_getSigners; net.remove_sealer("node-4") / add_sealer(...) vote
    net.wait_blocks(3)  # wait until every running node is 3 blocks past the highest head now
    net.resolve_stall() # after a partition heals: end a stall on equal-difficulty forks (debug_setHead)

Clique tolerates crashed sealers (blocks go on while more than half of the sealers seal in turn);
it is not Byzantine-fault tolerant, and it is deprecated upstream (README "A consortium network").
"""

from ledger.network.cluster import Fork, Network, NetworkError, NodeStatus, StallResolution
from ledger.network.genesis import GenesisError
from ledger.network.install import GETH_VERSION, GethUnavailable, geth_binary
from ledger.network.node import GethNode, NodeError, Placement, RpcError

__all__ = ["GETH_VERSION", "Fork", "GenesisError", "GethNode", "GethUnavailable", "Network", "NetworkError", "NodeError",
           "NodeStatus", "Placement", "RpcError", "StallResolution",
           "geth_binary"]
