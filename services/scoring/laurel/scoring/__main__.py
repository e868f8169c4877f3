"""`python -m laurel.scoring`: run the scoring service."""

from laurel.runtime import run_service
from laurel.scoring.bootstrap import build
from laurel.scoring.settings import ScoringSettings

if __name__ == "__main__":
    run_service(lambda: build(ScoringSettings.load()))
