// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title SerialRanges
/// @notice A set of disjoint closed ranges [start, end] of registry serial numbers (uint64, >= 1),
///         ordered by start, with predecessor / successor queries whose cost does not grow with
///         the number of ranges.
/// @dev The starts are kept in a radix-256 trie of bitmaps: 8 levels of one byte of the 64-bit
///      start each; the node of level L on the path of key x is `(L << 64) | (x >> (64 - 8L))` and
///      its bit d says "some start below this node has byte d at level L". A query reads at most
///      8 nodes going down and 7 coming back (15 SLOADs); an insertion writes the leaf bitmap and
///      climbs only while the node it touched was empty. Real registry retirement files (ACR, CAR:
///      up to ~5,000 rows, one serial block often retired in hundreds of pieces) therefore cost
///      the same per row at row 5,000 as at row 1. The end of each range is stored per start
///      (0 = no range starts there, which is why serial 0 is not a serial).
///      The trie spans only as many low-order bytes as the largest start needs (`depth`, 1…8):
///      a set of serials below 2^24 uses 3 levels, and the first insertion of a small serial
///      writes one node instead of eight. When a larger start arrives the trie grows upwards:
///      the old root is linked under new top nodes (bit 0: its keys have zero high bytes).
///      Callers check for overlap (`overlapping`) before `insert`.
///      Each range carries a one-byte tag (CCERRegistry: the status of its serials, 0 for the
///      issued set), stored beside its end (`end | tag << 64`, one word). `insertMerged` joins a
///      new range with an adjacent range of the same tag on either side (removing the right
///      one's start from the trie), so a set built only by `insertMerged` never holds two
///      adjacent ranges of one tag: a block retired in hundreds of consecutive pieces is one range.
library SerialRanges {
    /// @notice One ordered set of disjoint ranges.
    struct Set {
        mapping(uint64 start => uint256 endAndTag) ends;
        mapping(uint256 node => uint256 bitmap) nodes;
        uint256 depth;
    }

    uint256 private constant LEVELS = 8;

    /// @notice End of the range starting at `start` (0 if no range starts there).
    function endOf(Set storage set, uint64 start) internal view returns (uint64) {
        return uint64(set.ends[start]);
    }

    /// @notice The range containing serial `x`, if any: its start, end and tag.
    function rangeAt(Set storage set, uint64 x) internal view returns (bool found, uint64 start, uint64 end, uint8 tag) {
        (bool has, uint64 p) = floor(set, x);
        if (has) {
            uint256 w = set.ends[p];
            if (uint64(w) >= x) return (true, p, uint64(w), uint8(w >> 64));
        }
        return (false, 0, 0, 0);
    }

    /// @notice The range of the set with the largest start <= `end` if it reaches `start`, i.e. a
    ///         range overlapping [start, end] (the one starting last, if several do).
    /// @return found whether one overlaps; oStart, oEnd that range.
    function overlapping(Set storage set, uint64 start, uint64 end)
        internal
        view
        returns (bool found, uint64 oStart, uint64 oEnd)
    {
        (bool has, uint64 p) = floor(set, end);
        if (has) {
            uint64 e = uint64(set.ends[p]);
            if (e >= start) return (true, p, e);
        }
        return (false, 0, 0);
    }

    /// @notice Tag of the range starting at `start` (0 if none starts there, or untagged).
    function tagOf(Set storage set, uint64 start) internal view returns (uint8) {
        return uint8(set.ends[start] >> 64);
    }

    /// @notice Add [start, end] (1 <= start <= end < 2^64-1) with `tag` (> 0), joined with an
    ///         adjacent range of the same tag on either side; the caller has checked it overlaps
    ///         nothing.
    /// @return mergedEnd The end of the range that now holds [start, end] (> end when it absorbed
    ///         the range after it).
    function insertMerged(Set storage set, uint64 start, uint64 end, uint8 tag) internal returns (uint64 mergedEnd) {
        uint256 right = set.ends[end + 1];
        if (right != 0 && uint8(right >> 64) == tag) {
            _remove(set, end + 1);
            end = uint64(right);
        }
        if (start > 1) {
            (bool has, uint64 p) = floor(set, start - 1);
            if (has) {
                uint256 left = set.ends[p];
                if (uint64(left) == start - 1 && uint8(left >> 64) == tag) {
                    set.ends[p] = uint256(end) | (uint256(tag) << 64);
                    return end;
                }
            }
        }
        _insert(set, start, uint256(end) | (uint256(tag) << 64));
        return end;
    }

    /// @notice Add [start, end] (1 <= start <= end), untagged; the caller has checked it overlaps
    ///         nothing.
    function insert(Set storage set, uint64 start, uint64 end) internal {
        _insert(set, start, end);
    }

    /// @dev Stores the range word `w` at `start` and links `start` into the trie.
    function _insert(Set storage set, uint64 start, uint256 w) private {
        set.ends[start] = w;
        uint256 d = set.depth;
        uint256 need = Math.log2(start) / 8 + 1;
        if (need > d) {
            // grow: the old root (level LEVELS - d, key 0 at that level) hangs under bit 0 of new tops
            if (d != 0) {
                for (uint256 level = LEVELS - need; level < LEVELS - d; ++level) {
                    set.nodes[level << 64] |= 1;
                }
            }
            set.depth = need;
            d = need;
        }
        uint256 x = start;
        uint256 top = LEVELS - d;
        // Bottom-up: once a node was already non-empty, all its ancestors already point to it.
        for (uint256 level = LEVELS; level > top;) {
            unchecked {
                --level;
            }
            uint256 key = _node(x, level);
            uint256 bm = set.nodes[key];
            uint256 bit = uint256(1) << _digit(x, level);
            if (bm & bit == 0) set.nodes[key] = bm | bit;
            if (bm != 0) break;
        }
    }

    /// @notice Largest start <= `x`.
    function floor(Set storage set, uint64 x) internal view returns (bool found, uint64 key) {
        uint256 depth = set.depth;
        if (depth == 0) return (false, 0);
        // every start is below 2^(8·depth): a larger x has the same floor as 2^(8·depth) - 1
        if (depth < LEVELS && uint256(x) >> (8 * depth) != 0) x = uint64((uint256(1) << (8 * depth)) - 1);
        uint256 bestLevel = LEVELS;
        uint256 bestDigit;
        for (uint256 level = LEVELS - depth; level < LEVELS; ++level) {
            uint256 bm = set.nodes[_node(x, level)];
            uint256 d = _digit(x, level);
            uint256 lower = bm & ((uint256(1) << d) - 1);
            if (lower != 0) {
                bestLevel = level;
                bestDigit = Math.log2(lower);
            }
            if ((bm >> d) & 1 == 0) break;
            if (level == LEVELS - 1) return (true, x);
        }
        if (bestLevel == LEVELS) return (false, 0);
        uint256 path = ((uint256(x) >> (64 - 8 * bestLevel)) << 8) | bestDigit;
        for (uint256 level = bestLevel + 1; level < LEVELS; ++level) {
            path = (path << 8) | Math.log2(set.nodes[(level << 64) | path]);
        }
        return (true, uint64(path));
    }

    /// @notice Smallest start >= `x`.
    function ceil(Set storage set, uint64 x) internal view returns (bool found, uint64 key) {
        uint256 depth = set.depth;
        if (depth == 0 || (depth < LEVELS && uint256(x) >> (8 * depth) != 0)) return (false, 0);
        uint256 bestLevel = LEVELS;
        uint256 bestDigit;
        for (uint256 level = LEVELS - depth; level < LEVELS; ++level) {
            uint256 bm = set.nodes[_node(x, level)];
            uint256 d = _digit(x, level);
            uint256 higher = bm & (type(uint256).max << (d + 1));
            if (higher != 0) {
                bestLevel = level;
                bestDigit = _lsb(higher);
            }
            if ((bm >> d) & 1 == 0) break;
            if (level == LEVELS - 1) return (true, x);
        }
        if (bestLevel == LEVELS) return (false, 0);
        uint256 path = ((uint256(x) >> (64 - 8 * bestLevel)) << 8) | bestDigit;
        for (uint256 level = bestLevel + 1; level < LEVELS; ++level) {
            path = (path << 8) | _lsb(set.nodes[(level << 64) | path]);
        }
        return (true, uint64(path));
    }

    /// @dev Removes the range starting at `x` (one must): clears its word and its trie bits,
    ///      climbing while the node it cleared became empty.
    function _remove(Set storage set, uint64 x) private {
        delete set.ends[x];
        uint256 top = LEVELS - set.depth;
        for (uint256 level = LEVELS; level > top;) {
            unchecked {
                --level;
            }
            uint256 key = _node(x, level);
            uint256 bm = set.nodes[key] & ~(uint256(1) << _digit(x, level));
            set.nodes[key] = bm;
            if (bm != 0) break;
        }
    }

    function _node(uint256 x, uint256 level) private pure returns (uint256) {
        return (level << 64) | (x >> (64 - 8 * level));
    }

    function _digit(uint256 x, uint256 level) private pure returns (uint256) {
        return (x >> (56 - 8 * level)) & 0xff;
    }

    function _lsb(uint256 v) private pure returns (uint256) {
        unchecked {
            return Math.log2(v & (0 - v));
        }
    }
}
