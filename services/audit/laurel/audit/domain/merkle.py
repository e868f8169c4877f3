"""Merkle tree over a store's event hashes: one root a checkpoint can sign.

The tree is the Merkle Tree Hash of RFC 6962 (section 2.1), restated by RFC
9162, with SHA-256, so that any implementation of those RFCs can check a
Laurel checkpoint without Laurel's code:

- the leaves are the store's events in global position order; leaf `i`
  (0-based) is the event at position `i + 1`, and its data is the 32 raw
  bytes of the event's hex SHA-256 `hash` column (the hash chains every
  stored field, so a leaf commits to the whole event);
- MTH({})       = SHA-256()                                  (empty store)
- MTH({d0})     = SHA-256(0x00 || d0)                        (leaf hash)
- MTH(D[0:n])   = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])) for n > 1,
  where k is the largest power of two smaller than n.

The 0x00/0x01 prefixes keep a leaf from passing for an inner node (second
preimage attacks). An inclusion proof is RFC 6962's audit path: the sibling
hashes from the leaf up to the root, checked with RFC 9162's algorithm
(section 2.1.3.2). It lets one nomination's export be checked against a
store-wide checkpoint without shipping every other event of the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def leaf_hash(event_hash: str) -> bytes:
    """RFC 6962 leaf hash of one event; raises ValueError on a non-hex hash."""
    data = bytes.fromhex(event_hash)
    if len(data) != 32:
        raise ValueError(f"event hash {event_hash!r} is not 32 bytes of hex")
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class RootAccumulator:
    """The root of a growing tree in O(log n) memory, for stores of any size.

    It keeps the roots of the perfect subtrees the leaves so far form (sizes
    are the binary digits of the count); folding them right to left gives the
    MTH, because RFC 6962 splits at the largest power of two.
    """

    def __init__(self) -> None:
        self.count = 0
        self._stack: list[tuple[int, bytes]] = []  # (height, subtree root)

    def add(self, event_hash: str) -> None:
        height, node = 0, leaf_hash(event_hash)
        while self._stack and self._stack[-1][0] == height:
            node = node_hash(self._stack.pop()[1], node)
            height += 1
        self._stack.append((height, node))
        self.count += 1

    def root(self) -> str:
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node.hex()


def merkle_root(event_hashes: Iterable[str]) -> str:
    accumulator = RootAccumulator()
    for event_hash in event_hashes:
        accumulator.add(event_hash)
    return accumulator.root()


class MerkleTree:
    """Every level of the tree, for inclusion proofs of many leaves at once.

    Pairing nodes left to right and lifting a lone last node unchanged to the
    next level builds exactly RFC 6962's tree, so a proof is the list of
    siblings met on the way up, skipping levels where the node was lifted.
    """

    def __init__(self, event_hashes: Sequence[str]) -> None:
        level = [leaf_hash(h) for h in event_hashes]
        self.size = len(level)
        self._levels = [level]
        while len(level) > 1:
            level = [
                node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                for i in range(0, len(level), 2)
            ]
            self._levels.append(level)

    @property
    def root(self) -> str:
        return self._levels[-1][0].hex() if self.size else EMPTY_ROOT

    def proof(self, index: int) -> list[str]:
        """The audit path of leaf `index` (0-based), bottom-up, as hex."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} is outside a tree of {self.size}")
        path = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling].hex())
            index //= 2
        return path


def verify_inclusion(
    event_hash: str, index: int, tree_size: int, proof: Sequence[str], root: str
) -> bool:
    """RFC 9162 section 2.1.3.2: is `event_hash` leaf `index` of `root`?"""
    if not 0 <= index < tree_size:
        return False
    try:
        node = leaf_hash(event_hash)
        siblings = [bytes.fromhex(p) for p in proof]
    except ValueError:
        return False
    fn, sn = index, tree_size - 1
    for sibling in siblings:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = node_hash(node, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and node.hex() == root
