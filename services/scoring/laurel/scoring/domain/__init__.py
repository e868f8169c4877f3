"""Scoring's pure domain: the compliance registry and the eligibility rules,
the facts noted from intake and review, exact score aggregation, rankings
and versioned results. No I/O, no clock, no files: what a decision needs is
passed in."""
