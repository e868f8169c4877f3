"""`laurel up --once`: the main job as processes, exactly as `make run` starts it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_laurel_up_runs_the_demo_through_every_service_and_stops_cleanly(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUREL_")}
    result = subprocess.run(
        [sys.executable, "-m", "laurel.cli", "up", "--once", "--data-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=180,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Laurel is up" in out
    for service in ("intake", "scoring", "review", "notification"):
        assert service in out
    assert f"(mail in {tmp_path / 'mail'})" in out  # e-mail goes to a local SMTP sink
    # the demo campaign, step by step, through all four services
    for step in ("1. organizations", "3. commissions endorse", "4. panels",
                 "5. a complaint", "6. blind scoring", "7. rounds closed",
                 "8. decisions recorded", "9. the organizer approves", "10. e-mails"):
        assert f"\n{step}" in out
    assert "status=received" in out
    assert "notification received the events over Kafka" in out
    assert "[results]" in out and "tie broken by" in out
    assert list((tmp_path / "mail").glob("*.eml"))
    # the auditor's view over the AuditService, started beside the services
    assert "AuditService, auditors only" in out
    assert "The auditor's view (AuditService)" in out and "BROKEN" not in out
    for service in ("intake", "scoring", "review", "notification"):
        assert f"   {service}: hash chains and positions hold" in out
    assert out.rstrip().endswith("Stopped.")
    for service in ("intake", "scoring", "review", "notification"):
        assert (tmp_path / f"{service}.sqlite").exists()

    # What the demo left behind is verifiable and replayable by an auditor.
    audit_env = {**env, "LAUREL_DATA_DIR": str(tmp_path)}
    for command in (["verify"], ["replay"]):
        audited = subprocess.run(
            [sys.executable, "-m", "laurel.cli", "audit", *command],
            env=audit_env, capture_output=True, text=True, timeout=120,
        )
        assert audited.returncode == 0, audited.stdout + audited.stderr
        for service in ("intake", "scoring", "review", "notification"):
            assert service in audited.stdout
