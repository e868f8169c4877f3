"""Auditing Laurel's event stores: verify, checkpoint, export, replay.

Everything an auditor (a read-only role) needs, as a library the CLI
(`laurel audit …`) and the AuditService gRPC both stand on. Package
verification works offline: it needs the exported folder and nothing else.

`laurel.audit` is a regular package, yet its generated gRPC code lives in
gen/laurel/audit/v1 like every service's: `extend_path` lets both halves be
one package.
"""

from pkgutil import extend_path

from laurel.audit.checkpoints import (
    CHECKPOINT_STREAM,
    Checkpoint,
    CheckpointRefused,
    create_checkpoint,
    recorded_checkpoints,
    verify_checkpoint,
    verify_recorded_checkpoints,
)
from laurel.audit.export import export_all, export_campaign, export_nomination
from laurel.audit.keys import (
    generate_key_file,
    key_id,
    load_public_key,
    load_signing_key,
    signing_key_from_env,
)
from laurel.audit.merkle import MerkleTree, merkle_root, verify_inclusion
from laurel.audit.replay import Difference, replay_projections
from laurel.audit.timeline import TimelineEntry, merge_timeline, nomination_timeline
from laurel.audit.verify import (
    Problem,
    VerificationResult,
    verify_package,
    verify_stores,
)

__all__ = [
    "CHECKPOINT_STREAM",
    "Checkpoint",
    "CheckpointRefused",
    "Difference",
    "MerkleTree",
    "Problem",
    "TimelineEntry",
    "VerificationResult",
    "create_checkpoint",
    "export_all",
    "export_campaign",
    "export_nomination",
    "generate_key_file",
    "key_id",
    "load_public_key",
    "load_signing_key",
    "merge_timeline",
    "merkle_root",
    "nomination_timeline",
    "recorded_checkpoints",
    "replay_projections",
    "signing_key_from_env",
    "verify_checkpoint",
    "verify_inclusion",
    "verify_package",
    "verify_recorded_checkpoints",
    "verify_stores",
]

__path__ = extend_path(__path__, __name__)
