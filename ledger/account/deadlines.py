"""Reporting and compliance deadlines of an enterprise-year, each with its source in
../shared/data/china_rules.md and how firm that source is (the file's status words).

The compliance (清缴) deadline itself is not here: it is the Compliance period's ``deadline``,
read from the chain with the citation the regulator published in ``PeriodOpened``.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta, timezone
from typing import Any

#: Monthly data (信息化存证) due this many natural days after month-end. china_rules.md §1,
#: "Monthly data deadline under the 2021 guideline" — PARTIAL (secondary, inferred from a local notice).
MONTHLY_DATA_DAYS = 40
MONTHLY_CITATION = ("china_rules.md §1: monthly data within 40 natural days after month-end "
                    "(2021 guideline era; local notice implementing 环办气候函〔2023〕43号) — PARTIAL")
#: Annual emission report due 31 March of the following year. china_rules.md §1, 《碳排放权交易管理办法(试行)》
#: (MEE Order No. 19) — CONFIRMED-P.
ANNUAL_REPORT_CITATION = "china_rules.md §1: annual report by 31 Mar (碳排放权交易管理办法(试行), MEE Order No. 19) — CONFIRMED-P"
#: Verification of the annual report by 30 June of the following year. china_rules.md §1,
#: 环办气候函〔2023〕43号 (summaries) — CONFIRMED-S.
VERIFICATION_CITATION = "china_rules.md §1: verification by 30 Jun (环办气候函〔2023〕43号, summaries) — CONFIRMED-S"


def _local_midnight(year: int, month: int, day: int, offset_s: int) -> int:
    """UTC seconds of 00:00 local time on that date for a participant ``offset_s`` east of UTC."""
    tz = timezone(timedelta(seconds=offset_s))
    return int(datetime(year, month, day, tzinfo=tz).timestamp())


def reporting_deadlines(year: int, offset_s: int) -> list[dict[str, Any]]:
    """The reporting deadlines of reporting year ``year`` in the enterprise's local time.

    Args:
        year: the reporting (compliance) year; offset_s: the enterprise's UTC offset, seconds east
            (ParticipantRegistry ``utcOffsetSeconds``: the clock that cuts its months).
    Returns:
        dicts ``{"what", "due" (UTC s: the end of the last local day allowed), "citation"}``:
        twelve monthly-data deadlines, then the annual report and the verification.
    """
    out = []
    for m in range(1, 13):
        last = calendar.monthrange(year, m)[1]
        month_end = _local_midnight(year, m, last, offset_s) + 86_400
        out.append({"what": f"monthly data {year}-{m:02d}", "due": month_end + MONTHLY_DATA_DAYS * 86_400,
                    "citation": MONTHLY_CITATION})
    out.append({"what": f"annual emission report {year}", "due": _local_midnight(year + 1, 4, 1, offset_s),
                "citation": ANNUAL_REPORT_CITATION})
    out.append({"what": f"verification of the {year} report", "due": _local_midnight(year + 1, 7, 1, offset_s),
                "citation": VERIFICATION_CITATION})
    return out
