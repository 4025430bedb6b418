"""ledger.meter_data.merkle against the npm @openzeppelin/merkle-tree 1.0.8 reference (tests/js/merkle_reference.cjs).

Leaves come from ledger.meter_data.reading.reading_leaf; the JS side hashes the same values itself with
StandardMerkleTree.of(values, LEAF_TYPES), so a match checks leaf encoding, leaf sorting, tree
layout and proofs together.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.crypto import primitives as crypto
from ledger.meter_data import merkle, reading
from ledger.meter_data.merkle import EmptyTreeError, InvalidNodeError, LeafNotInTreeError, StandardMerkleTree
from ledger.meter_data.reading import Reading
from tests.conftest import unavailable

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "js" / "merkle_reference.cjs"
OZ_MERKLE = REPO / "node_modules" / "@openzeppelin" / "merkle-tree" / "package.json"
LEAF_TYPES = ["bytes32", "uint64", "uint64", "uint64", "uint16", "int64", "int8", "uint32", "bytes32"]
#: The device signature of every reading here (its keccak256 is the leaf's last value; the tree
#: does not check signatures, the oracles and ``verifyReading`` do).
SIG = bytes(range(65))

U64 = 2**64 - 1
EXTREMES = {
    "sequence": [0, 1, U64],
    "start": [0, U64],
    "end": [0, U64],
    "quantity_code": [0, 1, 2**16 - 1],
    "value": [-(2**63), -1, 0, 2**63 - 1],
    "scale": [-128, -1, 0, 127],
    "flags": [0, 1, 2**32 - 1],
}


def _node_missing_reason() -> str | None:
    if shutil.which("node") is None:
        return "`node` is not on PATH: cannot run the @openzeppelin/merkle-tree reference"
    if not OZ_MERKLE.is_file():
        return f"{OZ_MERKLE.parent} is absent: run `npm ci` in {REPO} for the JS reference"
    return None


@pytest.fixture()
def needs_node() -> None:
    """The JS reference needs `node` and @openzeppelin/merkle-tree (skip, or fail under CI=true)."""
    reason = _node_missing_reason()
    if reason is not None:
        unavailable(reason)


def random_readings(n: int, seed: int) -> list[Reading]:
    """n meter readings: mostly realistic minute readings of a few devices, some extremes."""
    rng = random.Random(seed)
    devices = [rng.randbytes(32) for _ in range(3)]
    out = []
    for i in range(n):
        start = 1_700_000_000 + 60 * i
        fields = {
            "device": rng.choice(devices),
            "sequence": i + 1,
            "start": start,
            "end": start + 60,
            "quantity_code": 1,
            "value": rng.randrange(-5_000, 12_000_000),
            "scale": 0,
            "flags": rng.choice([0, 0, 0, reading.FLAG_SUBSTITUTED]),
        }
        if rng.random() < 0.1:
            name = rng.choice(list(EXTREMES))
            fields[name] = rng.choice(EXTREMES[name])
        out.append(Reading(**fields))
    return out


def js_reference(readings: list[Reading], cwd: Path) -> dict:
    payload = {
        "types": LEAF_TYPES,
        "values": [
            ["0x" + r.device.hex(), *(str(v) for v in r.leaf_values(SIG)[1:-1]), "0x" + r.leaf_values(SIG)[-1].hex()]
            for r in readings
        ],
    }
    done = subprocess.run(
        ["node", str(REFERENCE)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=cwd,  # not the repo root: the script must find node_modules by itself
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def hexes(nodes: list[bytes] | tuple[bytes, ...]) -> list[str]:
    return ["0x" + node.hex() for node in nodes]


@pytest.mark.usefixtures("needs_node")
@pytest.mark.parametrize("n", [1, 2, 3, 7, 1440])
def test_tree_matches_openzeppelin_merkle_tree(n: int, tmp_path: Path) -> None:
    readings = random_readings(n, seed=n)
    leaves = [reading.reading_leaf(r, SIG) for r in readings]
    tree = StandardMerkleTree.from_leaf_hashes(leaves)
    ref = js_reference(readings, tmp_path)

    assert ref["leafHashes"] == hexes(leaves)
    assert "0x" + tree.root.hex() == ref["root"]
    assert hexes(tree.tree) == ref["tree"]
    proofs = tree.proofs()
    assert [hexes(p) for p in proofs] == ref["proofs"]
    for k, leaf in enumerate(leaves):
        assert tree.proof(k) == proofs[k] == tree.proof(leaf)
        assert StandardMerkleTree.verify(tree.root, leaf, proofs[k])


@pytest.mark.usefixtures("needs_node")
def test_duplicate_leaves_match_openzeppelin_and_lookup_takes_the_last(tmp_path: Path) -> None:
    base = random_readings(5, seed=99)
    readings = [base[0], base[1], base[0], base[2], base[1], base[0], base[3], base[4]]
    leaves = [reading.reading_leaf(r, SIG) for r in readings]
    tree = StandardMerkleTree.from_leaf_hashes(leaves)
    ref = js_reference(readings, tmp_path)

    assert "0x" + tree.root.hex() == ref["root"]
    assert [hexes(p) for p in tree.proofs()] == ref["proofs"]
    # JS leafLookup: the last value with a given hash wins (index 5 for base[0], 4 for base[1])
    assert tree.index_of(leaves[0]) == 5
    assert tree.proof(leaves[0]) == tree.proof(5) != tree.proof(0)
    assert tree.index_of(leaves[1]) == 4


def test_single_leaf_tree_has_the_leaf_as_root_and_an_empty_proof() -> None:
    leaf = reading.reading_leaf(random_readings(1, seed=1)[0], SIG)
    tree = StandardMerkleTree.from_leaf_hashes([leaf])
    assert tree.root == leaf
    assert tree.proof(0) == [] == tree.proof(leaf)
    assert StandardMerkleTree.verify(leaf, leaf, [])
    assert len(tree) == 1


def test_verify_refuses_tampered_leaf_proof_and_root() -> None:
    readings = random_readings(7, seed=7)
    leaves = [reading.reading_leaf(r, SIG) for r in readings]
    tree = StandardMerkleTree.from_leaf_hashes(leaves)
    root = tree.root
    for k, r in enumerate(readings):
        proof = tree.proof(k)
        tampered = reading.reading_leaf(Reading(r.device, r.sequence, r.start, r.end,
                                               r.quantity_code, r.value + 1, r.scale, r.flags), SIG)
        assert not StandardMerkleTree.verify(root, tampered, proof)
        bad_proof = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        assert not StandardMerkleTree.verify(root, leaves[k], bad_proof)
        assert not StandardMerkleTree.verify(root, leaves[k], proof[:-1])
        assert not StandardMerkleTree.verify(bytes(32), leaves[k], proof)
        assert StandardMerkleTree.verify(root, leaves[k], proof)


@settings(max_examples=60, deadline=None)
@given(
    leaves=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40),
    data=st.data(),
)
def test_root_ignores_input_order_and_every_proof_verifies(
    leaves: list[bytes], data: st.DataObject
) -> None:
    tree = StandardMerkleTree.from_leaf_hashes(leaves)
    shuffled = data.draw(st.permutations(leaves))
    assert StandardMerkleTree.from_leaf_hashes(shuffled).root == tree.root  # sortLeaves: true
    for k, proof in enumerate(tree.proofs()):
        assert len(proof) <= len(leaves).bit_length()
        assert merkle.process_proof(leaves[k], proof) == tree.root
        assert tree.leaf_hash(k) == leaves[k]


def test_hash_pair_is_commutative_keccak_of_sorted_pair() -> None:
    a, b = b"\x01" * 32, b"\x02" * 32
    assert merkle.hash_pair(a, b) == merkle.hash_pair(b, a) == crypto.keccak256(a + b)


def test_tree_refuses_empty_input() -> None:
    with pytest.raises(EmptyTreeError) as info:
        StandardMerkleTree.from_leaf_hashes([])
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", [b"\x00" * 31, b"\x00" * 33, "0x" + "00" * 32])
def test_tree_refuses_leaf_that_is_not_32_bytes(bad: object) -> None:
    with pytest.raises(InvalidNodeError):
        StandardMerkleTree.from_leaf_hashes([b"\x00" * 32, bad])  # type: ignore[list-item]


def test_verify_refuses_proof_element_that_is_not_32_bytes() -> None:
    with pytest.raises(InvalidNodeError):
        StandardMerkleTree.verify(b"\x00" * 32, b"\x01" * 32, [b"\x02" * 31])


def test_proof_refuses_unknown_leaf_and_out_of_range_index() -> None:
    tree = StandardMerkleTree.from_leaf_hashes([b"\x01" * 32, b"\x02" * 32, b"\x03" * 32])
    with pytest.raises(LeafNotInTreeError):
        tree.proof(b"\x04" * 32)
    for index in (-1, 3):
        with pytest.raises(LeafNotInTreeError):
            tree.proof(index)
