"""AMPD population, GCP prices and the seeded trading plan (pure Python).

Real-data tests use ../shared/data (PROVENANCE.md): cems/ampd_annual_unit_2016.csv (US EPA AMPD,
via bsergi/Historical-PJM-Dispatch-Curves @ a37b3262), emission_factors/oge_emission_factors_for_co2_ch4_n2o.csv
(singularity-energy/open-grid-emissions @ 4ac110c8) and market/GCP.csv (Chen-zhongxiu/Carbon-price-data
@ 6e3ea533). They skip when the files are absent; CARBONLEDGER_SHARED_DATA=/path/to/shared/data points elsewhere.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.accounting.exchange_rules import DayState, ExchangeRules, Trade, TradeMode
from ledger.datasets.ampd import (
    BENCHMARK_T_PER_MWH,
    FUEL_MAP_PATH,
    AmpdFormatError,
    Exclusion,
    allocation_t,
    build_population,
    electricity_wh,
    emissions_kg,
    emissions_kg_exact,
    fuel_factor_scaled,
    heat_input_mj,
    load_fuel_map,
    read_ampd,
    simulation_uscc,
)
from ledger.datasets.prices import DailyPrice, PriceFormatError, load_gcp, select_window, yuan_to_fen
from ledger.identifiers import validate_uscc
from ledger.simulation.plan import Participant, PlanError, obligation_t, participants_from, plan_trades
from tests.conftest import shared_data


def data_file(rel: str) -> Path:
    """A ../shared/data file (tests.conftest.shared_data: skips when absent)."""
    return shared_data(rel)


HEADER = ("State, Facility Name, Facility ID (ORISPL), Unit ID, Associated Stacks, Year, Gross Load (MW-h), "
          "CO2 (short tons), Heat Input (MMBtu), Operating Status, Unit Type, Fuel Type (Primary), Fuel Type (Secondary)")
FACTORS = """Fuel Type,energy_source_code,co2_tons_per_mmbtu,ch4_lb_per_mmbtu,n2o_lb_per_mmbtu,Source
Bituminous,BIT,0.10296,0.02425,0.00353,"(EPA, 2009)"
Pipeline (Weighted U.S. Average),NG,0.05844,0.0022,0.00022,"(EPA, 2009)"
Distillate Fuel Oil (avg),DFO,0.08166,0.00661,0.00132,"(EPA, 2009)"
Waste Coal,WC,0.10529,0.02425,0.00353,"(EPA, 2009)"
Residual Fuel Oil (avg),RFO,0.08159,0.00661,0.00132,"(EPA, 2009)"
Petroleum Coke,PC,0.11289,0.00661,0.00132,"(EPA, 2009)"
Wood and Wood Residuals,WDS,0.1034,0.07055,0.00926,"(EPA, 2009)"
Other Gas,OG,0.05844,0.0022,0.00022,Use NG EF
Process Gas,PRG,0.05844,0.0022,0.00022,Use NG EF"""


def write_ampd(tmp_path: Path, rows: list[str], final_newline: bool = False) -> Path:
    p = tmp_path / "ampd.csv"
    p.write_text("\n".join([HEADER, *rows]) + ("\n" if final_newline else ""))
    return p


@pytest.fixture()
def factors(tmp_path: Path) -> Path:
    p = tmp_path / "factors.csv"
    p.write_text(FACTORS + "\n")
    return p


SYNTH = [
    'AL, Gas One, 56018, 1, blank, 2016, 24735, 16010.1, 271329.2, Operating, Combustion turbine, Pipeline Natural Gas, ',
    'AL, Coal Big, 3, 5, CS0AAN, 2016, 5000000, 5000000, 4.87E+07, Operating, Tangentially-fired, Coal, ',
    'AL, Two Fuel, 7, 2A, , 2016, 1000.5, 500, 9000, Operating, Cyclone, "Coal, Pipeline Natural Gas", Diesel Oil',
    'TX, Oil Peaker, 9, GT1, , 2016, 100, 50, 700, Operating, Combustion turbine, Diesel Oil, ',
    'TX, No Heat, 10, 1, , 2016, , , , Operating, Combustion turbine, Pipeline Natural Gas, ',
    'TX, No Load, 11, 1, , 2016, , 10, 200, Operating, Combustion turbine, Pipeline Natural Gas, ',
    'TX, Zero Load, 12, 1, , 2016, 0, 10, 200, Operating, Combustion turbine, Pipeline Natural Gas, ',
    'TX, Mystery, 13, 1, , 2016, 10, 10, 200, Operating, Combustion turbine, Unobtainium, ',
]


# ---------------------------------------------------------------------- AMPD loader
def test_loader_types_rows_keeps_lines_and_parses_the_files_quirks(tmp_path: Path) -> None:
    rows = list(read_ampd(write_ampd(tmp_path, SYNTH)))
    assert [r.line for r in rows] == list(range(2, 2 + len(SYNTH)))
    gas, coal, two = rows[0], rows[1], rows[2]
    assert (gas.orispl, gas.unit_id, gas.gross_load_mwh, gas.heat_input_mmbtu, gas.co2_short_tons) == \
        (56018, "1", Decimal("24735"), Decimal("271329.2"), Decimal("16010.1"))
    assert coal.heat_input_mmbtu == Decimal("48700000")  # 4.87E+07, exact
    assert two.primary_fuel == "Coal, Pipeline Natural Gas" and two.secondary_fuel == "Diesel Oil"
    assert rows[4].heat_input_mmbtu is None and rows[4].gross_load_mwh is None
    assert gas.key == "56018/1"


def test_population_excludes_and_counts_by_reason(tmp_path: Path, factors: Path) -> None:
    pop = build_population(write_ampd(tmp_path, SYNTH, final_newline=True), factors)
    assert pop.rows == 8
    assert [u.key for u in pop.units] == ["56018/1", "3/5", "7/2A"]
    assert pop.excluded_counts == {"other_fuel": 1, "unmapped_fuel": 1, "blank_heat_input": 1, "zero_heat_input": 0,
                                   "blank_gross_load": 1, "zero_load": 1}
    assert {u.key: r for u, r in pop.excluded}["9/GT1"] is Exclusion.OTHER_FUEL
    # two-fuel string: the first fuel (coal) decides
    two = pop.units[2]
    assert (two.category, two.mapping.energy_source_code, two.factor_short_t_per_mmbtu) == ("coal", "BIT", Decimal("0.10296"))
    assert pop.sliced(2).units == pop.units[:2] and pop.sliced(2).excluded == pop.excluded


def test_emissions_and_allocation_of_a_known_unit(tmp_path: Path, factors: Path) -> None:
    gas = build_population(write_ampd(tmp_path, SYNTH[:1]), factors).units[0]
    assert gas.heat_input_mj == 286_267_460  # 271,329.2 MMBtu × 1055.05585262 = 286,267,460.4 MJ
    assert gas.factor_scaled == 50_249_355  # 0.05844 short t/MMBtu = 50.249355 kgCO2/GJ
    assert gas.emissions_kg == (286_267_460 * 50_249_355 + 500_000_000) // 10**9 == 14_384_755
    exact = Fraction("271329.2") * Fraction("0.05844") * Fraction("907.18474")  # 14,384,754.92 kg
    assert gas.emissions_kg == int(exact + Fraction(1, 2)) == emissions_kg_exact(Decimal("271329.2"), Decimal("0.05844"))
    assert gas.emissions_t == 14_385
    assert gas.electricity_wh == 24_735_000_000
    assert gas.allocation_t == 9_696  # 24,735 MWh × 0.392 = 9,696.12 t
    assert gas.file_co2_t == Decimal("16010.1") * Decimal("0.90718474")


@given(st.decimals(0, 10**8, places=3, allow_nan=False, allow_infinity=False),
       st.sampled_from(["0.10296", "0.05844", "0.10529", "0.08166", "0.1163"]))
def test_chain_form_of_emissions_stays_within_its_rounding_bound_of_the_exact_product(hi: Decimal, f: str) -> None:
    fd = Decimal(f)
    chain, exact = emissions_kg(hi, fd), emissions_kg_exact(hi, fd)
    gj = hi * Decimal("1.05505585262")
    bound = Decimal("0.5") * fuel_factor_scaled(fd) / 10**9 + gj * Decimal("0.5e-6") + 1
    assert abs(chain - exact) <= bound
    assert heat_input_mj(hi) == int(Fraction(hi) * Fraction("1055.05585262") + Fraction(1, 2))


@given(st.decimals(0, 10**8, places=2, allow_nan=False, allow_infinity=False), st.sampled_from(["coal", "gas"]))
def test_allocation_is_gross_load_times_benchmark_half_up(mwh: Decimal, cat: str) -> None:
    assert electricity_wh(mwh) == mwh * 1_000_000
    assert allocation_t(mwh, cat) == int(Fraction(mwh) * Fraction(BENCHMARK_T_PER_MWH[cat]) + Fraction(1, 2))


def test_benchmarks_are_the_2019_2020_plan_values() -> None:
    assert BENCHMARK_T_PER_MWH == {"coal": "0.877", "gas": "0.392"}
    with pytest.raises(KeyError):
        allocation_t(Decimal(1), "oil")
    with pytest.raises(ValueError):
        emissions_kg(Decimal(-1), Decimal("0.1"))


@pytest.mark.parametrize("bad,msg", [
    ('AL, X, 1, 1, , 2016, ten, 5, 5, Operating, CT, Coal, ', "Gross Load"),
    ('AL, X, 1, 1, , 2016, 10, 5, -5, Operating, CT, Coal, ', "Heat Input"),
    ('AL, X, one, 1, , 2016, 10, 5, 5, Operating, CT, Coal, ', "ORISPL"),
    ('AL, X, 1, 1, , 2016, 10, 5, 5, Operating, CT', "fields"),
    ('AL, X, 1, , , 2016, 10, 5, 5, Operating, CT, Coal, ', "Unit ID"),
])
def test_loader_refuses_malformed_rows_naming_the_line(tmp_path: Path, bad: str, msg: str) -> None:
    with pytest.raises(AmpdFormatError) as e:
        list(read_ampd(write_ampd(tmp_path, [SYNTH[0], bad])))
    assert ":3:" in str(e.value) and msg.split()[0] in str(e.value)


def test_loader_refuses_duplicate_units_and_missing_columns(tmp_path: Path) -> None:
    with pytest.raises(AmpdFormatError, match="already on line 2"):
        list(read_ampd(write_ampd(tmp_path, [SYNTH[0], SYNTH[0]])))
    p = tmp_path / "bad.csv"
    p.write_text("State, Unit ID\nAL, 1\n")
    with pytest.raises(AmpdFormatError, match="missing columns"):
        list(read_ampd(p))


def test_fuel_map_is_consistent_and_states_every_assumption() -> None:
    fm = load_fuel_map()
    assert FUEL_MAP_PATH.name == "ampd_fuel_map.csv"
    for m in fm.values():
        assert m.category in ("coal", "gas", "excluded")
        assert m.assumption and "china_rules.md §3a" in m.assumption or "task rule" in m.assumption
        assert m.first_fuel == m.ampd_fuel.split(",")[0].strip()  # the first fuel decides
    covered = {k: (m.energy_source_code, m.category) for k, m in fm.items() if m.category != "excluded"}
    assert covered == {"Pipeline Natural Gas": ("NG", "gas"), "Natural Gas": ("NG", "gas"),
                       "Natural Gas, Pipeline Natural Gas": ("NG", "gas"), "Coal": ("BIT", "coal"),
                       "Coal, Pipeline Natural Gas": ("BIT", "coal"), "Coal, Natural Gas": ("BIT", "coal")}


def test_fuel_map_refuses_a_bad_category(tmp_path: Path) -> None:
    p = tmp_path / "map.csv"
    p.write_text("ampd_primary_fuel,first_fuel,energy_source_code,category,assumption\nCoal,Coal,BIT,lignite,x\n")
    with pytest.raises(AmpdFormatError, match="category"):
        load_fuel_map(p)


def test_simulation_uscc_is_valid_deterministic_and_distinct() -> None:
    a = simulation_uscc(3, "1")
    assert validate_uscc(a) == a and a == simulation_uscc(3, "1")
    assert a[2:8] == "000003"
    assert len({simulation_uscc(56018, u) for u in ["1", "2", "1A", "*1", "CT-1", "a"]}) == 6
    with pytest.raises(ValueError):
        simulation_uscc(1_000_000, "1")


# ---------------------------------------------------------------------- real AMPD file
def test_real_ampd_2016_population_and_comparison_with_its_co2_column() -> None:
    pop = build_population(data_file("cems/ampd_annual_unit_2016.csv"),
                           data_file("emission_factors/oge_emission_factors_for_co2_ch4_n2o.csv"))
    assert pop.rows == 3_427 and len(pop.fuel_counts) == 17
    assert set(pop.fuel_counts) <= set(load_fuel_map())  # every AMPD fuel string is mapped
    assert len(pop.units) == 3_100
    assert pop.excluded_counts == {"other_fuel": 173, "unmapped_fuel": 0, "blank_heat_input": 89,
                                   "zero_heat_input": 0, "blank_gross_load": 61, "zero_load": 4}
    assert len(pop.units) + len(pop.excluded) == pop.rows
    cmp = pop.compare_with_file()
    # Measured (2016): computed 1,717.6 Mt vs reported 1,738.2 Mt: −1.18 % overall (coal −0.95 %, gas
    # −1.73 %); median unit |difference| 1.66 %, 2,975 of 3,100 units within 5 %.
    assert -2 < cmp.overall.total_diff_pct < 0
    assert cmp.overall.median_abs_diff_pct < 2
    assert cmp.overall.within_5pct >= 0.95 * cmp.overall.units
    assert -2 < cmp.by_category["coal"].total_diff_pct < 0 and -2 < cmp.by_category["gas"].total_diff_pct < 0
    assert {validate_uscc(simulation_uscc(u.unit.orispl, u.unit.unit_id)) for u in pop.units}.__len__() == 3_100


# ---------------------------------------------------------------------- prices
def test_yuan_to_fen_is_exact_and_refuses_sub_fen_prices() -> None:
    assert yuan_to_fen("77.21") == 7_721 and yuan_to_fen("65") == 6_500 and yuan_to_fen("0.1") == 10
    for bad in ("77.215", "0", "-1", "abc", "NaN"):
        with pytest.raises(ValueError):
            yuan_to_fen(bad)


def test_load_gcp_parses_days_and_refuses_bad_rows(tmp_path: Path) -> None:
    p = tmp_path / "gcp.csv"
    p.write_text("date,type,price,log_price\n2016/1/7,GDEA,18.45,2.9\n2016/1/4,GDEA,15.1,2.7")
    assert load_gcp(p) == [DailyPrice(date(2016, 1, 4), 1_510, 3), DailyPrice(date(2016, 1, 7), 1_845, 2)]
    for body, msg in [("2016/1/4,GDEA,15.111,1", ":2: price"), ("2016/13/4,GDEA,15,1", ":2:"),
                      ("2016/1/4,HBEA,15,1", "product"), ("2016/1/4,GDEA,15,1\n2016/1/4,GDEA,16,1", "already on line 2")]:
        p.write_text("date,type,price,log_price\n" + body)
        with pytest.raises(PriceFormatError, match=msg):
            load_gcp(p)


def test_select_window_returns_the_real_previous_close() -> None:
    prices = [DailyPrice(date(2015, 12, 31), 1_885, 2), DailyPrice(date(2016, 1, 4), 1_510, 3),
              DailyPrice(date(2016, 1, 7), 1_845, 4)]
    assert select_window(prices, date(2016, 1, 1)) == (prices[1:], 1_885)
    assert select_window(prices, days=1) == (prices[:1], None)
    with pytest.raises(ValueError):
        select_window(prices, date(2017, 1, 1))


def test_real_gcp_series() -> None:
    prices = load_gcp(data_file("market/GCP.csv"))
    assert len(prices) == 1_921
    assert prices[0] == DailyPrice(date(2014, 3, 20), 6_500, 2) and prices[-1].price_fen == 7_726
    w, prev = select_window(prices, date(2016, 1, 1), date(2016, 12, 31))
    assert len(w) == 195 and prev == 1_885


# ---------------------------------------------------------------------- obligation and plan
def test_obligation_caps_coal_at_allocation_plus_20_percent_and_exempts_gas() -> None:
    assert obligation_t("coal", 1_000, 900) == 1_000  # gap 100 ≤ 200
    assert obligation_t("coal", 1_000, 500) == 700  # capped: 500 + 200
    assert obligation_t("coal", 1_000, 1_200) == 1_000  # long
    assert obligation_t("coal", 1_004, 0) == 200  # 200.8 → 200 (⌊E × 2000 / 10000⌋, Compliance.sol)
    assert obligation_t("gas", 1_000, 600) == 600
    assert obligation_t("gas", 500, 600) == 500
    with pytest.raises(ValueError):
        obligation_t("oil", 1, 1)


def days(n: int, start_fen: int = 5_000, seed: int = 0) -> list[DailyPrice]:
    rng = random.Random(seed)
    out, p = [], start_fen
    for i in range(n):
        out.append(DailyPrice(date(2016, 1, 1 + i), p, i + 2))
        p = max(100, p + rng.randint(-600, 600))  # moves beyond ±10 % happen
    return out


def population(n: int, seed: int = 1) -> list[Participant]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        cat = rng.choice(["coal", "gas"])
        a = rng.randint(1_000, 400_000)
        out.append(Participant(f"U{i:03d}", cat, max(0, a + rng.randint(-a // 2, a // 2)), a))
    return out


def replay_rules(plan_days: list, previous_close: int | None, parts: list[Participant]) -> None:
    """Re-check every planned trade with a fresh rule state (independent of the planner's own)."""
    holdings = {p.key: p.allocation_t for p in parts}
    state = None
    for d in plan_days:
        opening = {(k, 0): v for k, v in holdings.items()}
        state = DayState(d.day, previous_close or d.real_price_fen, opening_holdings=opening) if state is None \
            else state.next_day(d.day, opening)
        assert d.previous_close_fen == state.previous_close_fen
        for t in d.trades:
            state.accept(Trade(t.trade_id, t.day, t.seller, t.buyer, t.quantity_t, t.price_fen, t.mode))
            holdings[t.buyer] += t.quantity_t
            holdings[t.seller] -= t.quantity_t


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 12), st.integers(0, 2**32), st.integers(1, 4))
def test_plan_conserves_tonnes_and_passes_the_rule_set(n_units: int, n_days: int, seed: int, cadence: int) -> None:
    parts, prices = population(n_units, seed), days(n_days, seed=seed)
    plan = plan_trades(parts, prices, seed, cadence=cadence, previous_close_fen=4_800)
    replay_rules(plan.days, 4_800, parts)
    by = {p.key: p for p in parts}
    bought, sold = plan.bought_t(), plan.sold_t()
    assert sum(bought.values()) == sum(sold.values()) == plan.settled_t
    assert not set(bought) & set(sold)  # buyers never sell: no resale at all
    for k, q in bought.items():
        assert q + plan.unmet_t.get(k, 0) == by[k].need_t
    for k, q in sold.items():
        assert q + plan.unsold_t.get(k, 0) == by[k].surplus_t
    assert plan.settled_t == min(sum(p.need_t for p in parts), sum(p.surplus_t for p in parts)) or cadence > 1
    for d in plan.days:
        lo, hi = DayState(d.day, d.previous_close_fen).band(TradeMode.LISTED)
        assert lo <= d.price_fen <= hi
        assert d.clamped == (d.price_fen != d.real_price_fen)
        assert all(t.price_fen == d.price_fen and t.quantity_t > 0 for t in d.trades)
        assert all((t.mode is TradeMode.BLOCK) == (t.quantity_t >= 100_000) for t in d.trades)
    assert plan.settled_fen == sum(plan.cash_needed_fen().values())


def test_plan_is_a_pure_function_of_units_prices_and_seed() -> None:
    parts, prices = population(30), days(8)
    a = plan_trades(parts, prices, 7)
    shuffled = list(parts)
    random.Random(3).shuffle(shuffled)
    assert plan_trades(shuffled, prices, 7).trades == a.trades
    b = plan_trades(parts, prices, 8)
    assert [(t.buyer, t.seller) for t in b.trades] != [(t.buyer, t.seller) for t in a.trades]
    assert b.settled_t == a.settled_t  # the seed changes the order, not the volume


def test_plan_spreads_each_units_gap_over_the_days() -> None:
    parts = [Participant("B", "coal", 1_200, 1_000), Participant("S", "coal", 500, 1_000)]  # need 200, surplus 500
    plan = plan_trades(parts, days(4), 1)
    assert [sum(t.quantity_t for t in d.trades) for d in plan.days] == [50, 50, 50, 50]
    assert plan.unsold_t == {"S": 300} and plan.unmet_t == {}
    plan3 = plan_trades([Participant("B", "coal", 1_200, 1_000), Participant("S", "coal", 930, 1_000)], days(3), 1)
    assert [sum(t.quantity_t for t in d.trades) for d in plan3.days] == [24, 23, 23]  # ceil(70/3), ceil(46/2), 23


def test_plan_uses_the_days_price_and_clamps_it_into_the_band() -> None:
    parts = [Participant("B", "coal", 2_000, 1_000), Participant("S", "coal", 0, 1_000)]
    prices = [DailyPrice(date(2016, 1, 4), 1_000, 2), DailyPrice(date(2016, 1, 5), 1_500, 3),
              DailyPrice(date(2016, 1, 6), 1_150, 4)]
    plan = plan_trades(parts, prices, 0, previous_close_fen=1_000)
    assert [(d.price_fen, d.clamped) for d in plan.days] == [(1_000, False), (1_100, True), (1_150, False)]
    assert [d.previous_close_fen for d in plan.days] == [1_000, 1_000, 1_100]


def test_large_daily_quantities_become_block_trades() -> None:
    parts = [Participant("B", "coal", 2_000_000, 1_700_000), Participant("S", "coal", 0, 1_000_000)]
    plan = plan_trades(parts, days(2), 0)
    assert [t.mode for t in plan.trades] == [TradeMode.BLOCK, TradeMode.BLOCK]
    assert plan.days[0].close_fen == plan.days[0].previous_close_fen  # block trades do not set the close


def test_plan_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        plan_trades([Participant("A", "coal", 1, 1)] * 2, days(2), 0)
    with pytest.raises(ValueError):
        plan_trades(population(3), list(reversed(days(3))), 0)
    with pytest.raises(ValueError):
        plan_trades(population(3), days(3), 0, cadence=0)


def test_plan_error_surfaces_a_rule_violation() -> None:
    parts = [Participant("B", "coal", 1_200, 1_000), Participant("S", "coal", 500, 1_000)]
    with pytest.raises(PlanError, match="quantity_step"):
        plan_trades(parts, days(3), 0, rules=ExchangeRules(quantity_step_t=7))


def test_real_population_plan_for_2016() -> None:
    pop = build_population(data_file("cems/ampd_annual_unit_2016.csv"),
                           data_file("emission_factors/oge_emission_factors_for_co2_ch4_n2o.csv"))
    window, prev = select_window(load_gcp(data_file("market/GCP.csv")), date(2016, 1, 1), date(2016, 12, 31))
    parts = participants_from(pop.units)
    plan = plan_trades(parts, window, 2016, cadence=5, previous_close_fen=prev)
    s = plan.summary()
    # the buyers (coal units short of their capped obligation) need more than the sellers have
    assert s["need_t"] > s["surplus_t"] and s["settled_t"] == s["surplus_t"] and s["unsold_t"] == 0
    assert Counter(by.category for by in parts if by.need_t)["gas"] == 0  # gas units are exempt beyond allocation
    assert s["trading_days"] == 195 and s["trades"] > 195
