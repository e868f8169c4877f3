"""`python -m laurel.review`: run the review service."""

from laurel.config import load_settings
from laurel.review.bootstrap import build_review
from laurel.runtime import run_service

if __name__ == "__main__":
    run_service(lambda: build_review(load_settings("review")))
