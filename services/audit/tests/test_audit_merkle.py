"""The Merkle tree is RFC 6962's, and its inclusion proofs hold for any leaf."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laurel.audit.domain.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    RootAccumulator,
    merkle_root,
    verify_inclusion,
)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, transcribed literally (recursive split)."""
    n = len(leaves)
    if n == 0:
        return sha(b"")
    if n == 1:
        return sha(b"\x00" + leaves[0])
    k = 1 << ((n - 1).bit_length() - 1)
    return sha(b"\x01" + reference_mth(leaves[:k]) + reference_mth(leaves[k:]))


def reference_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 section 2.1.1 PATH(m, D[n])."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return reference_path(m, leaves[:k]) + [reference_mth(leaves[k:])]
    return reference_path(m - k, leaves[k:]) + [reference_mth(leaves[:k])]


def hashes(count: int, salt: str = "") -> list[str]:
    return [hashlib.sha256(f"{salt}{i}".encode()).hexdigest() for i in range(count)]


event_hashes = st.lists(
    st.binary(min_size=32, max_size=32).map(bytes.hex),
    min_size=1,
    max_size=70,
    unique=True,  # event hashes chain every field, so they never repeat
)


def test_empty_and_single_leaf_roots_follow_the_rfc() -> None:
    assert merkle_root([]) == EMPTY_ROOT == MerkleTree([]).root
    leaf = hashes(1)[0]
    expected = sha(b"\x00" + bytes.fromhex(leaf)).hex()
    assert merkle_root([leaf]) == expected == MerkleTree([leaf]).root
    assert MerkleTree([leaf]).proof(0) == []


@pytest.mark.parametrize("size", range(0, 34))
def test_every_construction_gives_the_rfc_root(size: int) -> None:
    leaves = hashes(size)
    expected = reference_mth([bytes.fromhex(h) for h in leaves]).hex()
    assert MerkleTree(leaves).root == expected
    assert merkle_root(leaves) == expected


@settings(max_examples=200, deadline=None)
@given(event_hashes, st.data())
def test_any_subsets_proofs_verify_against_the_root(
    leaves: list[str], data: st.DataObject
) -> None:
    tree = MerkleTree(leaves)
    raw = [bytes.fromhex(h) for h in leaves]
    assert tree.root == merkle_root(leaves) == reference_mth(raw).hex()
    subset = data.draw(
        st.sets(st.integers(0, len(leaves) - 1), min_size=1), label="subset"
    )
    for index in sorted(subset):
        proof = tree.proof(index)
        assert proof == [p.hex() for p in reference_path(index, raw)]
        assert verify_inclusion(leaves[index], index, len(leaves), proof, tree.root)


@settings(max_examples=200, deadline=None)
@given(event_hashes, st.data())
def test_any_alteration_of_a_proof_fails(
    leaves: list[str], data: st.DataObject
) -> None:
    tree, size = MerkleTree(leaves), len(leaves)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = tree.proof(index)
    other_leaf = hashlib.sha256(leaves[index].encode()).hexdigest()
    assert not verify_inclusion(other_leaf, index, size, proof, tree.root)
    assert not verify_inclusion(leaves[index], index, size, proof, EMPTY_ROOT)
    assert not verify_inclusion(
        leaves[index], index, size, [*proof, "00" * 32], tree.root
    )
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="sibling")
        bit = data.draw(st.integers(0, 255), label="bit")
        flipped = bytearray.fromhex(proof[at])
        flipped[bit // 8] ^= 1 << (bit % 8)
        altered = [*proof[:at], flipped.hex(), *proof[at + 1 :]]
        assert not verify_inclusion(leaves[index], index, size, altered, tree.root)
        assert not verify_inclusion(leaves[index], index, size, proof[:-1], tree.root)
    if size > 1:
        wrong = data.draw(st.integers(0, size - 2), label="wrong")
        wrong += wrong >= index  # any index but the leaf's own
        assert not verify_inclusion(leaves[index], wrong, size, proof, tree.root)


def test_accumulator_roots_every_prefix_like_a_fresh_tree() -> None:
    leaves = hashes(40, "prefix")
    accumulator = RootAccumulator()
    for count, leaf in enumerate(leaves, start=1):
        accumulator.add(leaf)
        assert accumulator.root() == MerkleTree(leaves[:count]).root


def test_bad_input_is_refused_not_misread() -> None:
    with pytest.raises(ValueError):
        merkle_root(["not hex"])
    with pytest.raises(ValueError):
        merkle_root(["abcd"])
    with pytest.raises(IndexError):
        MerkleTree(hashes(3)).proof(3)
    leaves = hashes(3)
    tree = MerkleTree(leaves)
    assert not verify_inclusion(leaves[0], 3, 3, tree.proof(0), tree.root)
    assert not verify_inclusion(leaves[0], 0, 3, ["zz"], tree.root)
    assert not verify_inclusion("zz", 0, 3, tree.proof(0), tree.root)
