"""Notification's domain: who hears what, in which words, and an e-mail's life.

Pure: no I/O, no clock reads, no file reads. The template catalog is data the
bootstrap loads once and hands in; times are passed in; other services'
events arrive as `RecordedEvent` values. Importing this package loads neither
SQLAlchemy nor YAML (a test checks it).

- `events`: event type names, stream names, derived ids;
- `commands`: what callers ask of the service;
- `templates`: the catalog, checked when parsed, rendered many times;
- `directory`: what the service learned about nominations and reviewers;
- `kinds`: which upstream event tells whom what (`Intent`);
- `notifications`: intents become inbox entries, held batches, e-mails;
- `approval`: a held batch and its release;
- `delivery`: one e-mail's tries, backoff and final state;
- `privacy`: masking addresses for logs and listings.
"""
