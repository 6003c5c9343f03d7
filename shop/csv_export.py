"""CSV for spreadsheets: every export writes its cells through ``safe_cell`` (SPEC section 8).

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and one that starts with a TAB or
CR after trimming) as a formula: a shopper named ``=HYPERLINK(...)`` would run on the owner's machine.
Such a cell gets a leading ``'``, which spreadsheets show as text and never evaluate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def safe_cell(value: object) -> object:
    """The value as a cell no spreadsheet evaluates; numbers (``-5``) stay numbers, None is empty."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        text = str(value)
        if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
            return "'" + text
        return text
    return value


def write_row(writer, values: Iterable[object]) -> None:
    writer.writerow([safe_cell(v) for v in values])
