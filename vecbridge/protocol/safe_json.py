"""Parsing a message header's JSON within the protocol's nesting limit (sans-I/O).

Python's ``json`` recurses once per nesting level: 100,000 nested ``[`` raise
RecursionError, and a value nested 500 deep already breaks code that walks it. The
common header is small and shallow, so one C-speed screen (a count of ``[`` and ``{``)
lets it straight through to the C decoder; only a header with more brackets than the
limit pays for the exact depth scan (strings skipped, brackets summed with NumPy), before
the decoder ever sees it.

Numbers are read as ``json`` reads them (integers of up to 4,300 digits; ``1e400`` is
``inf``): the fields that need a number in range check it themselves (a reward must be a
finite float64, a Discrete ``n`` an int64, a shape small; see host.py, fields.py, spaces.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from vecbridge.errors import MalformedMessage
from vecbridge.protocol.limits import MAX_JSON_DEPTH

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_loads = json.JSONDecoder().decode
_TOO_DEEP = f"the header nests objects and lists deeper than {MAX_JSON_DEPTH} levels (vecbridge's limit)"


def check_depth(data: bytes) -> None:
    """Raise MalformedMessage if objects and lists in ``data`` (JSON text) nest deeper than the limit.

    Brackets inside strings do not count. Where a string is malformed (JSON would stop
    there) every bracket after it counts, which only errs on the safe side.
    """
    # +1 for each opening bracket, -1 (0xff as int8) for each closing one; the running sum
    # is the depth. Vectorized: a 256 KiB hello of brackets costs well under a millisecond.
    steps = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS).translate(_STEPS)
    if steps and int(np.cumsum(np.frombuffer(steps, dtype=np.int8), dtype=np.int64).max()) > MAX_JSON_DEPTH:
        raise MalformedMessage(_TOO_DEEP)


def loads_header(data: bytes) -> Any:
    """The JSON value of a header's bytes, or MalformedMessage naming what is wrong with them."""
    if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH:
        check_depth(data)
    try:
        return _loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise MalformedMessage(f"the header is not UTF-8: {exc}") from None
    except ValueError as exc:  # json.JSONDecodeError, and int() of more than 4,300 digits
        raise MalformedMessage(f"the header is not valid JSON: {str(exc)[:200]}") from None
    except RecursionError:  # not reached when check_depth is right; never let it out
        raise MalformedMessage(_TOO_DEEP) from None
