"""OpenZeppelin StandardMerkleTree over precomputed leaf hashes — identical to npm
``@openzeppelin/merkle-tree`` 1.0.8 (``StandardMerkleTree.of(values, types)``, sortLeaves true).

The JS library (node_modules/@openzeppelin/merkle-tree/dist/{merkletree,core,hashes}.js) does:

* ``prepare``: hash every value (``standardLeafHash`` = keccak(keccak(abi.encode(...)))), stably
  sort the hashed values by leaf hash (numeric compare of the 32 bytes), keep each value's
  original index;
* ``makeMerkleTree``: an array of ``2n - 1`` nodes, sorted leaf ``i`` at ``tree[len - 1 - i]``,
  then for ``i`` from ``len - 1 - n`` down to 0, ``tree[i] = hashPair(tree[2i+1], tree[2i+2])``
  where ``hashPair`` is keccak of the two children sorted ascending (``standardNodeHash``);
* value ``k`` (input order) sits at ``treeIndex = len - 1 - (its position after sorting)``;
* ``getProof(treeIndex)``: siblings from the leaf up to (not including) the root;
* ``leafLookup(hash)``: a map hash → value index built in input order, so for duplicate
  leaves the *last* value with that hash wins;
* ``processProof``: fold the proof with ``hashPair`` — the same as OpenZeppelin Contracts'
  ``MerkleProof.processProof`` (``Hashes.commutativeKeccak256``), so proofs verify on-chain.

Callers pass leaf hashes (e.g. :func:`ledger.meter_data.reading.reading_leaf`), keeping the ABI encoding of
leaf values in one place. Run ``python -m ledger.meter_data.merkle`` for the build rate of a 1,440-leaf tree.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

from ledger.crypto.primitives import keccak256_hasher

__all__ = [
    "MerkleError",
    "EmptyTreeError",
    "InvalidNodeError",
    "LeafNotInTreeError",
    "hash_pair",
    "process_proof",
    "StandardMerkleTree",
    "bench",
]


class MerkleError(ValueError):
    """Base class of the errors raised by :mod:`ledger.meter_data.merkle`."""


class EmptyTreeError(MerkleError):
    """A tree needs at least one leaf (JS: "Expected non-zero number of leaves")."""


class InvalidNodeError(MerkleError):
    """A leaf, node or proof element is not 32 bytes (JS: "Merkle tree nodes must be ... 32")."""


class LeafNotInTreeError(MerkleError, LookupError):
    """A leaf hash or index that the tree does not hold (JS: "Leaf is not in tree")."""


def _check_node(node: object, what: str) -> bytes:
    if not isinstance(node, (bytes, bytearray, memoryview)) or len(node) != 32:
        raise InvalidNodeError(f"{what} must be 32 bytes, got {node!r}")
    return bytes(node)


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Commutative node hash ``keccak256(min(a, b) ‖ max(a, b))`` over two 32-byte nodes.

    OZ merkle-tree ``standardNodeHash`` / OZ Contracts ``Hashes.commutativeKeccak256``.
    """
    if b < a:
        a, b = b, a
    return keccak256_hasher(a + b).digest()


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root reached from ``leaf`` through ``proof`` (OZ ``MerkleProof.processProof``), 32 bytes.

    Raises:
        InvalidNodeError: ``leaf`` or a proof element is not 32 bytes.
    """
    node = _check_node(leaf, "leaf")
    for i, sibling in enumerate(proof):
        node = hash_pair(node, _check_node(sibling, f"proof[{i}]"))
    return node


class StandardMerkleTree:
    """An OpenZeppelin StandardMerkleTree (sortLeaves: true) built from 32-byte leaf hashes.

    Build with :meth:`from_leaf_hashes`. Leaves are addressed by their *input index* (the
    position in the sequence given to :meth:`from_leaf_hashes`, the JS "value index") or by
    their hash. Immutable once built.
    """

    __slots__ = ("_tree", "_tree_index", "_lookup")

    def __init__(self, tree: list[bytes], tree_index: list[int]) -> None:
        """Internal: use :meth:`from_leaf_hashes`. ``tree`` is the JS node array; ``tree_index[k]``
        the tree position of input leaf ``k``."""
        self._tree = tree
        self._tree_index = tree_index
        # JS: Object.fromEntries(values.map(({treeIndex}, valueIndex) => [tree[treeIndex], valueIndex]))
        # — built in input order, so the last duplicate wins.
        self._lookup = {tree[t]: k for k, t in enumerate(tree_index)}

    @classmethod
    def from_leaf_hashes(cls, leaves: Sequence[bytes]) -> StandardMerkleTree:
        """Build the tree over ``leaves`` (32-byte leaf hashes, input order), like ``StandardMerkleTree.of``.

        Args:
            leaves: n ≥ 1 leaf hashes, e.g. ``[reading_leaf(r, signature) for r, signature in signed]``.
                Duplicates are allowed (each gets its own tree position, as in the JS library).

        Raises:
            EmptyTreeError: ``leaves`` is empty.
            InvalidNodeError: a leaf is not 32 bytes.
        """
        hashes = [_check_node(leaf, f"leaves[{k}]") for k, leaf in enumerate(leaves)]
        n = len(hashes)
        if n == 0:
            raise EmptyTreeError("a Merkle tree needs at least one leaf")
        # Stable sort of input indices by leaf hash (JS Array.prototype.sort is stable; equal-length
        # bytes compare lexicographically exactly as the JS numeric compare of their hex).
        order = sorted(range(n), key=hashes.__getitem__)
        size = 2 * n - 1
        tree: list[bytes] = [b""] * size
        tree_index = [0] * n
        for position, k in enumerate(order):
            t = size - 1 - position
            tree[t] = hashes[k]
            tree_index[k] = t
        k = keccak256_hasher       # the hot-path Keccak of ledger.crypto.primitives
        for i in range(size - 1 - n, -1, -1):
            left = tree[2 * i + 1]
            right = tree[2 * i + 2]
            tree[i] = k(left + right if left <= right else right + left).digest()
        return cls(tree, tree_index)

    @property
    def root(self) -> bytes:
        """The 32-byte root (``tree[0]``; the leaf itself for a one-leaf tree)."""
        return self._tree[0]

    @property
    def tree(self) -> tuple[bytes, ...]:
        """All ``2n - 1`` nodes in the JS library's array order (JS ``dump().tree``)."""
        return tuple(self._tree)

    def __len__(self) -> int:
        """Number of leaves n."""
        return len(self._tree_index)

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash of input leaf ``index``.

        Raises:
            LeafNotInTreeError: ``index`` not in [0, n).
        """
        return self._tree[self._tree_position(index)]

    def index_of(self, leaf_hash: bytes) -> int:
        """Input index of ``leaf_hash`` (the last one for duplicates, as JS ``leafLookup``).

        Raises:
            LeafNotInTreeError: the hash is not a leaf of this tree.
        """
        try:
            return self._lookup[bytes(leaf_hash)]
        except (KeyError, TypeError):
            raise LeafNotInTreeError(f"leaf is not in tree: {leaf_hash!r}") from None

    def proof(self, leaf: bytes | int) -> list[bytes]:
        """Proof of one leaf: sibling hashes from the leaf up to the root (JS ``getProof``).

        Args:
            leaf: the leaf hash (32 bytes) or its input index (int).

        Returns:
            A list of 32-byte nodes; empty for a one-leaf tree.

        Raises:
            LeafNotInTreeError: unknown hash or index out of range.
        """
        index = leaf if isinstance(leaf, int) and not isinstance(leaf, bool) else self.index_of(leaf)
        return self._proof_at_tree_index(self._tree_position(index))

    def proofs(self) -> list[list[bytes]]:
        """Proofs of all leaves in input order (``[proof(k) for k in range(n)]``)."""
        return [self._proof_at_tree_index(t) for t in self._tree_index]

    @staticmethod
    def verify(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
        """Whether ``proof`` proves ``leaf`` (a leaf hash) under ``root`` (OZ ``MerkleProof.verify``).

        Raises:
            InvalidNodeError: ``root``, ``leaf`` or a proof element is not 32 bytes.
        """
        return _check_node(root, "root") == process_proof(leaf, proof)

    def _tree_position(self, index: int) -> int:
        if not 0 <= index < len(self._tree_index):
            raise LeafNotInTreeError(f"leaf index {index} out of range [0, {len(self._tree_index)})")
        return self._tree_index[index]

    def _proof_at_tree_index(self, t: int) -> list[bytes]:
        tree = self._tree
        proof: list[bytes] = []
        while t > 0:
            # sibling: left child (odd) ↔ right child (even); JS siblingIndex = i - (-1)**(i % 2)
            proof.append(tree[t + 1 if t % 2 else t - 1])
            t = (t - 1) // 2
        return proof


def bench(leaves: int = 1_440, min_seconds: float = 1.0) -> dict[str, float]:
    """Measure tree building and proving for ``leaves`` random leaf hashes.

    Returns:
        ``{"build_ms", "proofs_ms", "verify_per_s"}``: mean milliseconds to build one tree,
        to produce all its proofs, and single-proof verifications per second.
    """
    hashes = [secrets.token_bytes(32) for _ in range(leaves)]
    builds = 0
    t0 = time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < min_seconds or builds == 0:
        tree = StandardMerkleTree.from_leaf_hashes(hashes)
        builds += 1
    build_ms = 1_000 * elapsed / builds
    t0 = time.perf_counter()
    proofs = tree.proofs()
    proofs_ms = 1_000 * (time.perf_counter() - t0)
    root = tree.root
    verified = 0
    t0 = time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < min_seconds or verified == 0:
        for h, p in zip(hashes, proofs):
            StandardMerkleTree.verify(root, h, p)
        verified += len(hashes)
    return {"build_ms": build_ms, "proofs_ms": proofs_ms, "verify_per_s": verified / elapsed}


if __name__ == "__main__":
    for name, value in bench().items():
        print(f"{name:14s} {value:12,.2f}")
