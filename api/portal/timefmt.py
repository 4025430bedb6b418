"""One formatter for every time the portal shows: a date and time in the participant's local
time with its UTC offset, e.g. ``2007-01-01 00:00 +08:00``.

The offset is the organisation's ``utcOffsetSeconds`` in ParticipantRegistry (set at admission;
the same offset that cuts an enterprise's reporting months, EmissionsRegistry.monthWindow), so a
regulator in Beijing reads +08:00 and an enterprise admitted with +01:00 reads its own time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

#: Widest UTC offset a participant may have, seconds (UTC−12:00 … UTC+14:00 are the zones in use).
MAX_OFFSET_S = 14 * 3600


def offset_label(offset_s: int) -> str:
    """``+08:00`` / ``-05:00`` / ``+05:45`` for an offset in seconds (rounded down to the minute).

    Raises:
        ValueError: beyond ±14 hours.
    """
    if abs(offset_s) > MAX_OFFSET_S:
        raise ValueError(f"UTC offset {offset_s} s is beyond ±14 h")
    sign = "+" if offset_s >= 0 else "-"
    minutes = abs(offset_s) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def local_time(unix_s: int | float, offset_s: int, *, seconds: bool = False) -> str:
    """``YYYY-MM-DD HH:MM ±HH:MM`` (``:SS`` too with ``seconds``) of UTC second ``unix_s`` in the
    local time of a participant whose offset is ``offset_s`` seconds east of UTC.

    Raises:
        ValueError: an offset beyond ±14 h; OverflowError / OSError: a time outside years 1–9999.
    """
    tz = timezone(timedelta(seconds=offset_s))
    t = datetime.fromtimestamp(unix_s, UTC).astimezone(tz)
    return t.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + " " + offset_label(offset_s)


def local_date(unix_s: int | float, offset_s: int) -> str:
    """``YYYY-MM-DD`` of UTC second ``unix_s`` in the local time of offset ``offset_s`` seconds."""
    return datetime.fromtimestamp(unix_s, UTC).astimezone(timezone(timedelta(seconds=offset_s))).date().isoformat()
