"""`python -m laurel_bench.worker`: run one measurement in this fresh process.

Reads {"func": "module:function", "args": {...}} on stdin, calls the function,
and prints its result (a JSON object) on one marked line of stdout.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys

from laurel_bench.common import RESULT_MARK


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    spec = json.loads(sys.stdin.read())
    module_name, function_name = spec["func"].split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    result = function(**spec["args"])
    sys.stdout.write("\n" + RESULT_MARK + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
