"""Settings every test folder shares (tests/ and services/*/tests/).

Hypothesis checks properties, not speed: its per-example deadline (200 ms)
turns a busy machine into a failure (`make test` runs several workers on two
cores), so it is off. Speed is measured by `make bench`, never by tests.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "laurel", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("laurel")
