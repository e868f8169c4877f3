"""`python -m laurel.review`: run the review service."""

from laurel.review.bootstrap import build
from laurel.review.settings import ReviewSettings
from laurel.runtime import run_service

if __name__ == "__main__":
    run_service(lambda: build(ReviewSettings.load()))
