"""`python -m laurel.scoring`: run the scoring service."""

from laurel.config import load_settings
from laurel.runtime import run_service
from laurel.scoring.bootstrap import build_scoring

if __name__ == "__main__":
    run_service(lambda: build_scoring(load_settings("scoring")))
