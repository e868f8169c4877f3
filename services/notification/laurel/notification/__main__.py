"""`python -m laurel.notification`: run the notification service."""

from laurel.config import load_settings
from laurel.notification.bootstrap import build_notification
from laurel.runtime import run_service

if __name__ == "__main__":
    run_service(lambda: build_notification(load_settings("notification")))
