"""`python -m laurel.intake`: run the intake service until SIGTERM or Ctrl-C."""

from laurel.intake.bootstrap import build
from laurel.intake.settings import IntakeSettings
from laurel.runtime import run_service

if __name__ == "__main__":
    run_service(lambda: build(IntakeSettings.load()))
