"""`python -m laurel.audit <command>`: the audit service's entry point.

`serve` runs the AuditService (the chart's audit Deployment), `checkpoint`
signs every store once (its CronJob); every command is `laurel audit
<command>`, with the same options and exit status.
"""

import sys

from laurel.audit.cli import main

if __name__ == "__main__":
    sys.exit(main(["audit", *sys.argv[1:]]))
