"""Review's domain: pure decisions and folds, no I/O, no clock, no files.

`commands` (what callers ask), `events` (what is recorded, and where),
`assignment` (reviewers, panels, who scores what and why), `rounds` (forms,
blind review, reminders, decisions, publication), `forums` (stage-4
invitations), `facts` (what intake and scoring told review), `campaign` (what
a campaign definition says about review).
"""
