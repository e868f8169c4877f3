"""`python -m laurel.notification`: run the notification service."""

from laurel.notification.bootstrap import build
from laurel.notification.settings import NotificationSettings
from laurel.runtime import run_service

if __name__ == "__main__":
    run_service(lambda: build(NotificationSettings.load()))
