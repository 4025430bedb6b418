"""Which engine a node runs, and after how many blocks a write is final there.

Clique (go-ethereum's proof of authority, EIP-225) lets a signer seal at most one of any
⌊N/2⌋ + 1 consecutive blocks, N = the number of signers (``clique_getSigners``). Two sides of a
partition that each hold at most half of the signers can therefore each seal at most ⌊N/2⌋ blocks
before they stall, while a majority goes on; a block with ⌊N/2⌋ blocks on top of it (depth
⌊N/2⌋ + 1, itself counted) cannot have been sealed by a minority alone, and the default finality
depth is K = ⌊N/2⌋ + 1 (issue 11). Clique tolerates crashed signers, not Byzantine ones: a
majority of colluding signers can still rewrite history, and the depth protects only against
partitions and crashes. On the embedded Anvil node (one process, instant mining, no forks unless
a test forces one with ``anvil_reorg``) K = 1: a mined write is final.

A block ``b`` is final when ``head - b + 1 >= K``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Engine names used in the report's ``chain`` section.
ANVIL = "anvil"
GETH_CLIQUE = "geth-clique"


def clique_final_after(signers: int) -> int:
    """K = ⌊N/2⌋ + 1 for a Clique network of ``signers`` sealers (module docstring).

    Raises:
        ValueError: ``signers`` < 1.
    """
    if signers < 1:
        raise ValueError(f"a Clique network has at least one signer, got {signers}")
    return signers // 2 + 1


def check_final_after(k: int) -> int:
    """``k`` itself if it is a usable finality depth (an int ≥ 1).

    Raises:
        ValueError: ``k`` is not an integer or is < 1 (a write is never final before its block).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"final_after must be an integer >= 1 (blocks), got {k!r}")
    return k


def is_final(block: int, head: int, k: int) -> bool:
    """Whether block number ``block`` is final at ``head`` with depth ``k``: ``head - block + 1 >= k``."""
    return head - block + 1 >= k


def final_head(head: int, k: int) -> int:
    """The newest final block number at ``head`` with depth ``k`` (−1 if none is)."""
    return head - k + 1


@dataclass(frozen=True)
class Engine:
    """What a node says it is.

    Attributes:
        name: :data:`ANVIL` or :data:`GETH_CLIQUE` (or the client name, lower case, for another engine).
        version: ``web3_clientVersion`` as the node answered it.
        signers: the Clique signers (``clique_getSigners``), empty elsewhere.
    """

    name: str
    version: str
    signers: tuple[str, ...] = ()

    @property
    def nodes(self) -> int:
        """Sealing nodes: the Clique signer count; 1 for the embedded node."""
        return len(self.signers) if self.signers else 1

    @property
    def default_final_after(self) -> int:
        """K by default: ⌊N/2⌋ + 1 on Clique, 1 on Anvil.

        Raises:
            ValueError: another engine (configure ``final_after`` for it).
        """
        if self.name == ANVIL:
            return 1
        if self.name == GETH_CLIQUE:
            return clique_final_after(len(self.signers))
        raise ValueError(f"no default finality depth for {self.version!r}: configure final_after")


def identify(client_version: str, signers: list[str] | None) -> Engine:
    """The engine from ``web3_clientVersion`` (``anvil/v1.5.1``, ``Geth/v1.13.15-stable-…``) and
    ``clique_getSigners`` (None when the node does not serve it)."""
    head = client_version.split("/", 1)[0].lower()
    if head == "anvil":
        return Engine(ANVIL, client_version)
    if head == "geth" and signers:
        return Engine(GETH_CLIQUE, client_version, tuple(signers))
    return Engine(head, client_version, tuple(signers or ()))
