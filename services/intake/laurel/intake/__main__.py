"""`python -m laurel.intake`: run the intake service until SIGTERM or Ctrl-C."""

from laurel.config import load_settings
from laurel.intake.bootstrap import build_intake
from laurel.runtime import run_service

if __name__ == "__main__":
    run_service(lambda: build_intake(load_settings("intake")))
