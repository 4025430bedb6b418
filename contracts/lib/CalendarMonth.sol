// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title CalendarMonth
/// @notice Calendar arithmetic for month windows cut in a fixed UTC offset (DESIGN.md §5 "Time":
///         days and months are cut in the enterprise's configured UTC offset, no DST).
/// @dev `daysFromCivil` is Howard Hinnant's algorithm ("chrono-Compatible Low-Level Date
///      Algorithms", days_from_civil), valid for the proleptic Gregorian calendar. Solidity's
///      signed division truncates toward zero like C++, so the algorithm carries over unchanged.
library CalendarMonth {
    /// @dev Seconds per civil day (UTC has no DST; leap seconds are not counted in unix time).
    int256 internal constant SECONDS_PER_DAY = 86_400;

    /// @notice Days since 1970-01-01 of the civil date (year, month, day).
    /// @param year Gregorian year (may be <= 0 for proleptic dates).
    /// @param month 1..12 (caller guarantees the range).
    /// @param day 1..31 (caller guarantees the range).
    /// @return Days relative to the unix epoch (negative before 1970).
    function daysFromCivil(int256 year, uint256 month, uint256 day) internal pure returns (int256) {
        int256 y = month <= 2 ? year - 1 : year;
        int256 era = (y >= 0 ? y : y - 399) / 400;
        int256 yoe = y - era * 400; // [0, 399]
        int256 mp = int256(month > 2 ? month - 3 : month + 9); // March = 0
        int256 doy = (153 * mp + 2) / 5 + int256(day) - 1; // [0, 365]
        int256 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
        return era * 146_097 + doe - 719_468;
    }

    /// @notice UTC timestamps of local midnight on day 1 of (year, month) and of the next month,
    ///         for a clock at fixed `utcOffsetSeconds` east of UTC.
    /// @param year Gregorian year.
    /// @param month 1..12 (caller guarantees the range).
    /// @param utcOffsetSeconds Local clock minus UTC, seconds (28800 for +08:00).
    /// @return start UTC seconds, inclusive.
    /// @return end UTC seconds, exclusive.
    /// @dev Local midnight = daysFromCivil × 86400 − offset. Reverts (OpenZeppelin SafeCast error)
    ///      when a bound falls before 1970-01-01T00:00Z or beyond uint64; callers validate `year`.
    function window(uint16 year, uint8 month, int32 utcOffsetSeconds)
        internal
        pure
        returns (uint64 start, uint64 end)
    {
        (uint16 nextYear, uint8 nextMonth) = month == 12 ? (year + 1, uint8(1)) : (year, month + 1);
        int256 s = daysFromCivil(int256(uint256(year)), month, 1) * SECONDS_PER_DAY - utcOffsetSeconds;
        int256 e = daysFromCivil(int256(uint256(nextYear)), nextMonth, 1) * SECONDS_PER_DAY
            - utcOffsetSeconds;
        start = SafeCast.toUint64(SafeCast.toUint256(s));
        end = SafeCast.toUint64(SafeCast.toUint256(e));
    }

    /// @notice Civil date (year, month 1..12) of day number `z` (days since 1970-01-01).
    /// @dev Howard Hinnant's civil_from_days, the inverse of `daysFromCivil`.
    function civilFromDays(int256 z) internal pure returns (int256 year, uint256 month) {
        z += 719_468;
        int256 era = (z >= 0 ? z : z - 146_096) / 146_097;
        int256 doe = z - era * 146_097; // [0, 146096]
        int256 yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
        int256 doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
        int256 mp = (5 * doy + 2) / 153; // March = 0
        month = uint256(mp < 10 ? mp + 3 : mp - 9);
        year = yoe + era * 400 + (month <= 2 ? int256(1) : int256(0));
    }

    /// @notice UTC timestamp (exclusive) of the end of the local calendar month containing the UTC
    ///         second `t`, for a clock at fixed `utcOffsetSeconds` east of UTC.
    /// @param t UTC seconds.
    /// @param utcOffsetSeconds Local clock minus UTC, seconds.
    /// @return end UTC seconds of local midnight on day 1 of the next month.
    function monthEnd(uint64 t, int32 utcOffsetSeconds) internal pure returns (uint64 end) {
        int256 local = int256(uint256(t)) + utcOffsetSeconds;
        int256 day = local >= 0 ? local / SECONDS_PER_DAY : (local - SECONDS_PER_DAY + 1) / SECONDS_PER_DAY;
        (int256 year, uint256 month) = civilFromDays(day);
        (int256 ny, uint256 nm) = month == 12 ? (year + 1, uint256(1)) : (year, month + 1);
        int256 e = daysFromCivil(ny, nm, 1) * SECONDS_PER_DAY - utcOffsetSeconds;
        end = SafeCast.toUint64(SafeCast.toUint256(e));
    }
}
