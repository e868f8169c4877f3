"""What each service publishes, declared once for its producer and every consumer.

A consumer reads another service's events through the producer's contract
module here (`laurel.contracts.intake`, …), never by copying the producer's
strings or re-implementing how its payloads are read.
"""
