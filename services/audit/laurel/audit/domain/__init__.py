"""What an audit decides, with no store, file, clock or network in reach.

Each module works on data handed to it (stored rows, a package's files as
bytes, a time already read) and is checked by mypy --strict:

  merkle        RFC 6962 Merkle tree over event hashes; inclusion proofs
  checkpoints   a signed root up to a position; recorded checkpoints re-checked
  lines         one stored event as one JSON line, byte for byte
  keys          Ed25519 key ids and PEM encodings
  manifest      a package's SHA-256 manifest and its signature
  package       an evidence package's files, built from rows and checkpoints
  verification  a package checked offline, every problem named by file and line
  selection     which streams belong to a nomination or a campaign
  timeline      every store's events merged causes-first
  replay        a rebuilt read model against the live one; rows as of a time
"""
