// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RLPReader} from "./RLPReader.sol";
import {MerklePatricia} from "./MerklePatricia.sol";

/// @title ReceiptProof: prove a receipt in a block's receipts trie and read one of its logs.
/// @notice Stable API (internal functions: inlined into the caller, no linking):
///
///   (address emitter, bytes32[] memory topics, bytes calldata data) =
///       ReceiptProof.logAt(bytes32 receiptsRoot, uint256 txIndex, bytes[] calldata proof, uint256 logIndex)
///     Verifies `proof` (eth_getProof-style nodes root -> leaf, key RLP(txIndex)) against
///     `receiptsRoot`, decodes the EIP-2718 receipt (legacy or type 1-4) and returns log
///     #`logIndex` of THAT receipt (0-based within the receipt, not the block-wide logIndex of
///     eth_getLogs). `data` is a slice of the proof's calldata (no copy): abi.decode it directly.
///     A failed transaction has no logs, so any logIndex reverts LogIndexOutOfRange for it.
///
///   bytes calldata receipt = ReceiptProof.receiptAt(receiptsRoot, txIndex, proof)
///     the proven receipts-trie value (type byte || RLP); reverts ReceiptNotInProof when the
///     proof is a valid exclusion proof.
///   uint256 s = ReceiptProof.statusOf(receipt)      1 success, 0 failure, 2 pre-Byzantium root
///   (emitter, topics, data) = ReceiptProof.logOf(receipt, logIndex)
///   (bytes32 key, uint256 keyLength) = ReceiptProof.indexKey(txIndex)   RLP(txIndex), left-aligned
///
/// Errors: MerklePatricia's Proof* errors and RLPReader's Rlp* errors for a bad proof;
/// ReceiptNotInProof, ReceiptMalformed, LogIndexOutOfRange, LogMalformed below.
/// Decoding agrees with adapters/receipts.py `decode_receipt` on every receipt a chain can
/// produce; it is stricter in one place: topics must be 32 bytes (they always are in the EVM).
library ReceiptProof {
    error ReceiptNotInProof(uint256 txIndex);
    error ReceiptMalformed();
    error LogIndexOutOfRange(uint256 logIndex);
    error LogMalformed(uint256 logIndex);

    /// @notice Proven receipt `txIndex` of the block whose receipts root is `receiptsRoot`.
    function receiptAt(bytes32 receiptsRoot, uint256 txIndex, bytes[] calldata proof)
        internal
        pure
        returns (bytes calldata receipt)
    {
        (bytes32 key, uint256 keyLength) = indexKey(txIndex);
        bool found;
        (found, receipt) = MerklePatricia.get(receiptsRoot, key, keyLength, proof);
        if (!found) revert ReceiptNotInProof(txIndex);
    }

    /// @notice Log `logIndex` of proven receipt `txIndex`: emitter, topics and data.
    function logAt(bytes32 receiptsRoot, uint256 txIndex, bytes[] calldata proof, uint256 logIndex)
        internal
        pure
        returns (address emitter, bytes32[] memory topics, bytes calldata data)
    {
        return logOf(receiptAt(receiptsRoot, txIndex, proof), logIndex);
    }

    /// @notice RLP(txIndex), the receipts/transactions trie key, left-aligned.
    function indexKey(uint256 txIndex) internal pure returns (bytes32 key, uint256 keyLength) {
        if (txIndex == 0) return (bytes32(uint256(0x80) << 248), 1);
        if (txIndex < 0x80) return (bytes32(txIndex << 248), 1);
        uint256 size = 0;
        for (uint256 v = txIndex; v != 0; v >>= 8) {
            size++;
        }
        if (size > 31) revert ReceiptNotInProof(txIndex);
        key = bytes32(((0x80 + size) << 248) | (txIndex << (248 - 8 * size)));
        keyLength = size + 1;
    }

    /// @dev Bounds of the receipt's fields: [status, cumulativeGasUsed, logsBloom, logs].
    function _fields(bytes calldata receipt)
        private
        pure
        returns (uint256 statusStart, uint256 statusStop, uint256 logsStart, uint256 logsStop)
    {
        unchecked {
            uint256 off;
            assembly ("memory-safe") {
                off := receipt.offset
            }
            uint256 end = off + receipt.length;
            if (receipt.length == 0) revert ReceiptMalformed();
            uint256 b0 = uint8(receipt[0]);
            if (b0 < 0xc0) {
                // EIP-2718 envelope: type byte then the RLP list (types 1-4 share the layout)
                if (b0 == 0 || b0 > 4) revert ReceiptMalformed();
                off += 1;
            }
            (uint256 p, uint256 stop) = RLPReader.list(off, end);
            if (stop != end) revert ReceiptMalformed();
            uint256 s;
            uint256 e;
            (statusStart, statusStop) = RLPReader.str(p, stop);
            (s, e) = RLPReader.str(statusStop, stop);
            RLPReader.uintOf(s, e, 8); // cumulativeGasUsed: canonical uint64
            (s, p) = RLPReader.str(e, stop);
            if (p - s != 256) revert ReceiptMalformed(); // logsBloom
            (logsStart, logsStop) = RLPReader.list(p, stop);
            if (logsStop != stop) revert ReceiptMalformed();
            uint256 statusLen = statusStop - statusStart;
            if (statusLen == 1) {
                if (uint8(bytes1(_word(statusStart))) != 1) revert ReceiptMalformed();
            } else if (statusLen != 0 && statusLen != 32) {
                revert ReceiptMalformed();
            }
        }
    }

    /// @notice 1 = success, 0 = failure, 2 = pre-Byzantium receipt (a 32-byte post-state root).
    function statusOf(bytes calldata receipt) internal pure returns (uint256) {
        (uint256 s, uint256 e,,) = _fields(receipt);
        if (e - s == 1) return 1;
        return e == s ? 0 : 2;
    }

    /// @notice Log `logIndex` (0-based within this receipt) of an encoded receipt.
    function logOf(bytes calldata receipt, uint256 logIndex)
        internal
        pure
        returns (address emitter, bytes32[] memory topics, bytes calldata data)
    {
        (uint256 s, uint256 e) = _logItem(receipt, logIndex);
        return _decodeLog(s, e, logIndex);
    }

    /// @dev Payload bounds of log item `logIndex` in the receipt's logs list.
    function _logItem(bytes calldata receipt, uint256 logIndex) private pure returns (uint256 s, uint256 e) {
        unchecked {
            (,, uint256 p, uint256 stop) = _fields(receipt);
            for (uint256 i = 0;; ++i) {
                if (p >= stop) revert LogIndexOutOfRange(logIndex);
                bool isList;
                (isList, s, e) = RLPReader.item(p, stop);
                if (!isList) revert LogMalformed(i);
                if (i == logIndex) return (s, e);
                p = e;
            }
        }
    }

    /// @dev Decodes the log payload [start, logStop): [address, [topic...], data].
    function _decodeLog(uint256 start, uint256 logStop, uint256 logIndex)
        private
        pure
        returns (address emitter, bytes32[] memory topics, bytes calldata data)
    {
        unchecked {
            (uint256 s, uint256 p) = RLPReader.str(start, logStop);
            if (p - s != 20) revert LogMalformed(logIndex);
            emitter = address(uint160(uint256(_word(s)) >> 96));
            (uint256 ts, uint256 te) = RLPReader.list(p, logStop);
            uint256 count = 0;
            for (uint256 q = ts; q < te; ++count) {
                (bool isList, uint256 a, uint256 b) = RLPReader.item(q, te);
                if (isList || b - a != 32) revert LogMalformed(logIndex);
                q = b;
            }
            topics = new bytes32[](count);
            for (uint256 k = 0; k < count; ++k) {
                topics[k] = _word(ts + 33 * k + 1); // each topic is 0xa0 || 32 bytes
            }
            uint256 e;
            (s, e) = RLPReader.str(te, logStop);
            if (e != logStop) revert LogMalformed(logIndex);
            uint256 len = e - s;
            assembly ("memory-safe") {
                data.offset := s
                data.length := len
            }
        }
    }

    function _word(uint256 at) private pure returns (bytes32 w) {
        assembly ("memory-safe") {
            w := calldataload(at)
        }
    }
}
