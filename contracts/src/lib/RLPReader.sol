// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title RLPReader: strict, allocation-free RLP item reader over calldata.
/// @notice Positions are ABSOLUTE calldata offsets (e.g. `bytes calldata x` -> `x.offset`), so
/// walking a proof node or a header never copies it to memory. Hand-written (no library covers
/// calldata RLP without memory copies) because copying every proof node and header costs more
/// than the whole walk.
///
/// Canonical-only, exactly like adapters/rlpcodec.py (and pyrlp strict mode): a single byte
/// < 0x80 wrapped as a string, a long form for a payload < 56 bytes and a length with leading
/// zeros revert with RlpNonCanonical; an item running past its container reverts with
/// RlpTruncated. Error arguments are absolute calldata offsets of the offending item.
///
///   (bool isList, uint256 start, uint256 stop) = RLPReader.item(ptr, end)
///       header of the item at `ptr`, which must end by `end`; payload = calldata[start:stop].
///   RLPReader.list(ptr, end) / RLPReader.str(ptr, end)      same, requiring a list / a string
///   RLPReader.wholeList(offset, length) -> (start, stop)    a list spanning exactly the slice
///   RLPReader.uintOf(start, stop, maxBytes) -> uint256      canonical integer payload
library RLPReader {
    error RlpTruncated(uint256 offset);
    error RlpNonCanonical(uint256 offset);
    error RlpExpectedList(uint256 offset);
    error RlpExpectedString(uint256 offset);
    error RlpTrailingBytes(uint256 offset);
    error RlpIntegerInvalid(uint256 offset);

    /// @dev Header of the item at `p`; the whole item must lie before `end`.
    function item(uint256 p, uint256 end) internal pure returns (bool isList, uint256 start, uint256 stop) {
        unchecked {
            if (p >= end) revert RlpTruncated(p);
            uint256 b0;
            assembly ("memory-safe") {
                b0 := byte(0, calldataload(p))
            }
            if (b0 < 0x80) {
                return (false, p, p + 1);
            }
            if (b0 < 0xb8) {
                start = p + 1;
                stop = p + b0 - 0x7f;
                if (b0 == 0x81) {
                    if (start >= end) revert RlpTruncated(p);
                    uint256 b1;
                    assembly ("memory-safe") {
                        b1 := byte(0, calldataload(start))
                    }
                    if (b1 < 0x80) revert RlpNonCanonical(p);
                }
            } else if (b0 < 0xc0) {
                (start, stop) = _long(p, end, b0 - 0xb7);
            } else if (b0 < 0xf8) {
                isList = true;
                start = p + 1;
                stop = p + b0 - 0xbf;
            } else {
                isList = true;
                (start, stop) = _long(p, end, b0 - 0xf7);
            }
            if (stop > end) revert RlpTruncated(p);
        }
    }

    function _long(uint256 p, uint256 end, uint256 width) private pure returns (uint256 start, uint256 stop) {
        unchecked {
            start = p + 1 + width;
            if (start > end) revert RlpTruncated(p);
            uint256 word;
            assembly ("memory-safe") {
                word := calldataload(add(p, 1))
            }
            if (word >> 248 == 0) revert RlpNonCanonical(p); // length with a leading zero byte
            uint256 size = word >> (256 - 8 * width); // width <= 8: no overflow below
            if (size < 56) revert RlpNonCanonical(p);
            stop = start + size;
        }
    }

    /// @dev The item at `p` must be a list; returns its payload bounds.
    function list(uint256 p, uint256 end) internal pure returns (uint256 start, uint256 stop) {
        bool isList;
        (isList, start, stop) = item(p, end);
        if (!isList) revert RlpExpectedList(p);
    }

    /// @dev The item at `p` must be a string; returns its payload bounds.
    function str(uint256 p, uint256 end) internal pure returns (uint256 start, uint256 stop) {
        bool isList;
        (isList, start, stop) = item(p, end);
        if (isList) revert RlpExpectedString(p);
    }

    /// @dev The slice [offset, offset+length) must be exactly one RLP list.
    function wholeList(uint256 offset, uint256 length) internal pure returns (uint256 start, uint256 stop) {
        uint256 end = offset + length;
        (start, stop) = list(offset, end);
        if (stop != end) revert RlpTrailingBytes(stop);
    }

    /// @dev A canonical big-endian integer payload [start, stop) of at most `maxBytes` (<= 32).
    function uintOf(uint256 start, uint256 stop, uint256 maxBytes) internal pure returns (uint256 v) {
        unchecked {
            uint256 size = stop - start;
            if (size == 0) return 0;
            if (size > maxBytes) revert RlpIntegerInvalid(start);
            assembly ("memory-safe") {
                v := shr(sub(256, mul(8, size)), calldataload(start))
            }
            if (v >> (8 * size - 8) == 0) revert RlpIntegerInvalid(start); // leading zero byte
        }
    }

    /// @dev keccak256 of calldata[offset, offset+length), via scratch memory (not allocated).
    function keccakCalldata(uint256 offset, uint256 length) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, offset, length)
            h := keccak256(ptr, length)
        }
    }
}
