"""Intake's domain: the nomination lifecycle of the 2021 Henan notice as pure code.

Nothing here reads a file, a clock or a database: the handlers load streams
and read models through their unit of work, pass the facts in, and append the
events that come back.

- `commands`: what callers ask for (and the queries they make), each carrying
  its `Caller`;
- `events`: each event's name, payload and older schemas (upcasters);
- `nomination`: a nomination's state, its fold and the decisions on it;
- `organizations`: the center, commissions, hospitals and the routing between;
- `campaigns`: the campaign definitions as intake's rules see them, their
  record in the log and the campaign clock;
- `rules`: the campaign's rules at the moment each applies;
- `access`: who may act on or read which nomination (the data-scoped half of
  authorization; roles are the policy table's);
- `evidence`: the checks an evidence file passes before an event names it.
"""
