"""The log formatter: one JSON object a record, ids from the context, and no
e-mail address or phone number, whatever a message or a traceback holds."""

from __future__ import annotations

import json
import logging
import sys

from laurel.logs import JsonFormatter, handling, scrub


def test_scrub_masks_contacts_and_leaves_ids_times_and_hosts() -> None:
    text = ("to yiwubu@example.org.cn and 王@例子.中国, call 13900000002 or +86 139 0000 0002 "
            "or 0371-6558-0011 or 0371-65580011; at 2026-12-07T18:34:05Z, event "
            "3fa85f64-5717-4562-b3fc-2c963f66afa6, hash 1234567890abcdef13900000002, "
            "db postgresql://u@127.0.0.1:5432/x")
    masked = scrub(text)
    for contact in ("yiwubu@", "例子", "13900000002 ", "139 0000", "0371-6558", "65580011"):
        assert contact not in masked, masked
    for kept in ("2026-12-07T18:34:05Z", "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                 "1234567890abcdef13900000002", "u@127.0.0.1:5432"):
        assert kept in masked, masked


def test_a_record_with_a_traceback_is_one_json_line_with_its_ids() -> None:
    try:
        raise RuntimeError("cannot mail a.b@example.org\nsecond line")
    except RuntimeError:
        info = sys.exc_info()
    with handling(event_id="e-1", nomination_id="n-1"):
        record = logging.LogRecord("laurel.test", logging.ERROR, __file__, 1,
                                   "failed for %s", ("c@example.cn",), info)
        record.error_id = "abc"
        line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "ERROR" and parsed["logger"] == "laurel.test"
    assert parsed["message"] == "failed for <e-mail>"
    assert (parsed["event_id"], parsed["nomination_id"], parsed["error_id"]) == (
        "e-1", "n-1", "abc")
    assert parsed["error_type"] == "RuntimeError"
    assert "Traceback" in parsed["traceback"] and "@example" not in parsed["traceback"]
