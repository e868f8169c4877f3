"""Auditing Laurel's event stores: verify, checkpoint, export, replay.

The audit service (`python -m laurel.audit serve`, the AuditService gRPC API,
auditor role only) and the `laurel audit …` commands both stand on the use
cases in `handlers`; this package re-exports them, with the domain types they
return, as the library an auditor's script may use. Package verification
works offline: it needs the exported folder and nothing else.

`laurel.audit` is a regular package, yet its generated gRPC code lives in
gen/laurel/audit/v1 like every service's: `extend_path` lets both halves be
one package.
"""

from pkgutil import extend_path

from laurel.audit.adapters.keyfiles import (
    generate_key_file,
    load_signing_key,
    signing_key_from_env,
)
from laurel.audit.adapters.stores import load_projections
from laurel.audit.domain.checkpoints import (
    CHECKPOINT_STREAM,
    Checkpoint,
    CheckpointRefused,
    verify_checkpoint,
)
from laurel.audit.domain.keys import key_id, load_public_key, public_pem
from laurel.audit.domain.merkle import MerkleTree, merkle_root, verify_inclusion
from laurel.audit.domain.replay import Difference
from laurel.audit.domain.timeline import TimelineEntry, merge_timeline
from laurel.audit.domain.verification import Problem, VerificationResult
from laurel.audit.handlers import (
    create_checkpoint,
    export_all,
    export_campaign,
    export_nomination,
    nomination_timeline,
    recorded_checkpoints,
    replay_projections,
    state_as_of,
    verify_package,
    verify_recorded_checkpoints,
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
    "load_projections",
    "load_public_key",
    "load_signing_key",
    "merge_timeline",
    "merkle_root",
    "nomination_timeline",
    "public_pem",
    "recorded_checkpoints",
    "replay_projections",
    "signing_key_from_env",
    "state_as_of",
    "verify_checkpoint",
    "verify_inclusion",
    "verify_package",
    "verify_recorded_checkpoints",
    "verify_stores",
]

__path__ = extend_path(__path__, __name__)
