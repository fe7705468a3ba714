// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RLPReader} from "./RLPReader.sol";

/// @title MerklePatricia: Ethereum Merkle-Patricia proof verification over calldata.
/// @notice Proofs use the eth_getProof wire format: RLP-encoded nodes root -> leaf, one per
/// HASHED reference; children shorter than 32 bytes are inlined in their parent and walked
/// inside it. Acceptance equals adapters/mpt.py `verify_proof` (same vectors, same mutations):
///
///   (bool found, bytes calldata value) = MerklePatricia.get(root, key, keyLength, proof)
///       key: the trie key left-aligned in a bytes32, keyLength bytes long (<= 32):
///         receipts / transactions: RLP(txIndex)       (see ReceiptProof.indexKey)
///         state:                   keccak256(address) (32 bytes)
///         storage:                 keccak256(slot)    (32 bytes)
///       found = false with an empty value is a VALID exclusion proof (the path ends in an empty
///       branch slot, a leaf for another key, or a diverging extension).
///   MerklePatricia.account(stateRoot, addr, proof) -> (exists, nonce, balance, storageRoot, codeHash)
///   MerklePatricia.storageAt(storageRoot, slot, proof) -> value (0 when absent)
///
/// Everything else reverts with a custom error: a node whose hash its parent does not
/// reference (ProofNodeHashMismatch), a missing node, nodes left after the path ends, a
/// malformed node or non-canonical RLP. `value` is a slice of the proof's calldata (no copy).
/// Arithmetic on calldata offsets, lengths and nibble counts is unchecked: all are bounded by
/// the calldata size (< 2**32) or the 64-nibble key, and compared before use.
/// Hand-written: published Solidity verifiers copy every node to memory and cost 200-500k gas.
library MerklePatricia {
    using RLPReader for uint256;

    bytes32 internal constant EMPTY_TRIE_ROOT = 0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421;

    error ProofEmpty();
    error ProofMissingNode(uint256 index);
    error ProofNodeHashMismatch(uint256 index);
    error ProofTrailingNodes(uint256 used, uint256 given);
    error ProofMalformedNode(uint256 index);
    error ProofKeyTooLong(uint256 length);
    error ProofValueInvalid();

    /// @dev Walk state: key nibbles consumed, current node index, and the outcome.
    struct Walk {
        uint256 pos; // key nibbles consumed
        uint256 keyNibbles;
        uint256 index; // proof nodes used
        bool done;
        bool found;
        uint256 valueStart;
        uint256 valueStop;
        bytes32 ref; // hash the next proof node must have
    }

    /// @notice Value stored under `key` (`keyLength` bytes, left-aligned) in the trie `root`.
    function get(bytes32 root, bytes32 key, uint256 keyLength, bytes[] calldata proof)
        internal
        pure
        returns (bool found, bytes calldata value)
    {
        if (keyLength > 32) revert ProofKeyTooLong(keyLength);
        if (proof.length == 0) {
            if (root == EMPTY_TRIE_ROOT) return (false, _empty());
            revert ProofEmpty();
        }
        Walk memory w;
        w.keyNibbles = keyLength * 2;
        w.ref = root;
        while (!w.done) {
            _step(w, key, proof);
        }
        if (w.index != proof.length) revert ProofTrailingNodes(w.index, proof.length);
        if (!w.found) return (false, _empty());
        uint256 vs = w.valueStart;
        uint256 vl = w.valueStop - vs;
        assembly ("memory-safe") {
            value.offset := vs
            value.length := vl
        }
        return (true, value);
    }

    /// @dev Checks proof node `w.index` against `w.ref` and walks it.
    function _step(Walk memory w, bytes32 key, bytes[] calldata proof) private pure {
        unchecked {
            if (w.index >= proof.length) revert ProofMissingNode(w.index);
            bytes calldata node = proof[w.index];
            uint256 off;
            assembly ("memory-safe") {
                off := node.offset
            }
            uint256 end = off + node.length;
            if (RLPReader.keccakCalldata(off, node.length) != w.ref) revert ProofNodeHashMismatch(w.index);
            w.index += 1;
            if (w.index == 1 && node.length == 1 && uint8(node[0]) == 0x80) {
                _finish(w, false, 0, 0); // the empty trie's root node: every key is absent
                return;
            }
            (bool isList, uint256 start, uint256 stop) = RLPReader.item(off, end);
            if (!isList || stop != end) revert ProofMalformedNode(w.index - 1);
            _walkNode(w, key, start, stop);
        }
    }

    function _empty() private pure returns (bytes calldata v) {
        assembly ("memory-safe") {
            v.offset := 0
            v.length := 0
        }
    }

    /// @dev Walks the node with payload [start, stop) and any children inlined in it. Sets
    /// `w.ref` to the next hashed child, or `w.done` (with `w.found` and the value bounds).
    function _walkNode(Walk memory w, bytes32 key, uint256 start, uint256 stop) private pure {
        unchecked {
            uint256 at = w.index - 1; // index of the proof node, for errors
            while (true) {
                uint256 child = _child(w, key, start, stop, at); // packed bounds of the next child
                if (w.done) return;
                (uint256 ch, uint256 cs, uint256 ce, bool cl) = _unpack(child);
                if (cl) {
                    // inlined child: walk it inside this proof node
                    if (ce - ch >= 32) revert ProofMalformedNode(at);
                    (start, stop) = (cs, ce);
                    continue;
                }
                if (ce - cs != 32) revert ProofMalformedNode(at);
                bytes32 ref;
                assembly ("memory-safe") {
                    ref := calldataload(cs)
                }
                w.ref = ref;
                return;
            }
        }
    }

    /// @dev One node step: the child to follow next, or the walk finished (`w.done`).
    function _child(Walk memory w, bytes32 key, uint256 start, uint256 stop, uint256 at)
        private
        pure
        returns (uint256)
    {
        unchecked {
            uint256 want = w.pos < w.keyNibbles ? _nibble(key, w.pos) : 16;
            (uint256 n, uint256 i0, uint256 i1, uint256 iw, bool l16) = _scan(start, stop, want);
            if (n == 17) {
                if (l16) revert ProofMalformedNode(at); // a branch value must be a string
                return _branch(w, iw, want);
            }
            if (n == 2) return _short(w, key, i0, i1, at);
            revert ProofMalformedNode(at);
        }
    }

    /// @dev Reads every item header of a node (strictly); keeps items 0, 1 and `want`, packed
    /// as header | payloadStart << 64 | payloadStop << 128 | isList << 192.
    function _scan(uint256 start, uint256 limit, uint256 want)
        private
        pure
        returns (uint256 n, uint256 i0, uint256 i1, uint256 iw, bool l16)
    {
        unchecked {
            uint256 p = start;
            while (p < limit) {
                // Fast paths for what fills branch nodes: empty slots and 32-byte hashes.
                uint256 s;
                uint256 e;
                bool isList;
                bool slow;
                assembly ("memory-safe") {
                    let b0 := byte(0, calldataload(p))
                    s := add(p, 1)
                    e := s
                    if iszero(eq(b0, 0x80)) {
                        e := add(p, 33)
                        slow := or(iszero(eq(b0, 0xa0)), gt(e, limit))
                    }
                }
                if (slow) (isList, s, e) = RLPReader.item(p, limit);
                assembly ("memory-safe") {
                    if or(lt(n, 2), or(eq(n, want), eq(n, 16))) {
                        let packed := or(or(p, shl(64, s)), or(shl(128, e), shl(192, isList)))
                        switch n
                        case 0 { i0 := packed }
                        case 1 { i1 := packed }
                        if eq(n, want) { iw := packed }
                        if eq(n, 16) { l16 := isList }
                    }
                    n := add(n, 1)
                    p := e
                }
            }
        }
    }

    /// @dev A branch node: returns the child for the next nibble, or finishes the walk.
    function _branch(Walk memory w, uint256 iw, uint256 want) private pure returns (uint256) {
        unchecked {
            (, uint256 sw, uint256 ew, bool lw) = _unpack(iw);
            if (want == 16) {
                _finish(w, sw != ew, sw, ew); // key ends at this branch: its value slot
            } else if (!lw && sw == ew) {
                _finish(w, false, 0, 0); // empty slot: key absent
            } else {
                w.pos += 1;
            }
            return iw;
        }
    }

    /// @dev A leaf or extension node: finishes the walk, or returns the extension's child.
    function _short(Walk memory w, bytes32 key, uint256 i0, uint256 i1, uint256 at) private pure returns (uint256) {
        unchecked {
            (bool leaf, bool matches, uint256 nibbles) = _path(w, key, i0, at);
            (, uint256 s1, uint256 e1, bool l1) = _unpack(i1);
            if (leaf) {
                if (l1 || s1 == e1) revert ProofMalformedNode(at);
                _finish(w, matches && nibbles == w.keyNibbles - w.pos, s1, e1);
                return 0;
            }
            if (nibbles == 0 || (!l1 && s1 == e1)) revert ProofMalformedNode(at);
            if (!matches) {
                _finish(w, false, 0, 0); // diverges from (or ends inside) the extension
                return 0;
            }
            w.pos += nibbles;
            return i1;
        }
    }

    /// @dev Hex-prefix path of a leaf/extension: leaf flag, whether the key continues with
    /// the path (prefix match, at most the remaining key), and the path's nibble count.
    function _path(Walk memory w, bytes32 key, uint256 i0, uint256 at)
        private
        pure
        returns (bool leaf, bool matches, uint256 nibbles)
    {
        unchecked {
            (, uint256 s0, uint256 e0, bool l0) = _unpack(i0);
            if (l0 || s0 == e0) revert ProofMalformedNode(at);
            uint256 first;
            assembly ("memory-safe") {
                first := byte(0, calldataload(s0))
            }
            uint256 flag = first >> 4;
            if (flag > 3 || (flag & 1 == 0 && first & 0x0f != 0)) revert ProofMalformedNode(at);
            leaf = flag >= 2;
            uint256 path; // path nibbles, left-aligned
            if (flag & 1 == 1) {
                nibbles = 2 * (e0 - s0) - 1;
                assembly ("memory-safe") {
                    path := shl(4, calldataload(s0))
                }
            } else {
                nibbles = 2 * (e0 - s0) - 2;
                assembly ("memory-safe") {
                    path := calldataload(add(s0, 1))
                }
            }
            if (nibbles <= w.keyNibbles - w.pos) {
                // nibbles <= 64 here; a shift by 256 gives 0, so the mask is right for 0 nibbles too
                uint256 mask = type(uint256).max << (256 - 4 * nibbles);
                matches = ((uint256(key) << (4 * w.pos)) ^ path) & mask == 0;
            }
        }
    }

    function _finish(Walk memory w, bool found, uint256 s, uint256 e) private pure {
        w.done = true;
        w.found = found;
        w.valueStart = s;
        w.valueStop = e;
    }

    function _unpack(uint256 x) private pure returns (uint256 h, uint256 s, uint256 e, bool isList) {
        unchecked {
            return (uint64(x), uint64(x >> 64), uint64(x >> 128), (x >> 192) != 0);
        }
    }

    function _nibble(bytes32 key, uint256 i) private pure returns (uint256) {
        unchecked {
            return (uint256(key) >> (252 - 4 * i)) & 0x0f;
        }
    }

    // --- EIP-1186 state and storage -------------------------------------------------------

    /// @notice The account at `addr` proven against `stateRoot` (exists = false: proven absent).
    function account(bytes32 stateRoot, address addr, bytes[] calldata proof)
        internal
        pure
        returns (bool exists, uint256 nonce, uint256 balance, bytes32 storageRoot, bytes32 codeHash)
    {
        (bool found, bytes calldata value) = get(stateRoot, keccak256(abi.encodePacked(addr)), 32, proof);
        if (!found) return (false, 0, 0, 0, 0);
        uint256 off;
        assembly ("memory-safe") {
            off := value.offset
        }
        (uint256 p, uint256 end) = RLPReader.wholeList(off, value.length);
        uint256 s;
        uint256 e;
        (s, e) = RLPReader.str(p, end);
        nonce = RLPReader.uintOf(s, e, 8);
        (s, p) = RLPReader.str(e, end);
        balance = RLPReader.uintOf(s, p, 32);
        (s, e) = RLPReader.str(p, end);
        if (e - s != 32) revert ProofValueInvalid();
        assembly ("memory-safe") {
            storageRoot := calldataload(s)
        }
        (s, p) = RLPReader.str(e, end);
        if (p - s != 32 || p != end) revert ProofValueInvalid();
        assembly ("memory-safe") {
            codeHash := calldataload(s)
        }
        return (true, nonce, balance, storageRoot, codeHash);
    }

    /// @notice The value of storage `slot` proven against `storageRoot` (0 when proven absent).
    function storageAt(bytes32 storageRoot, uint256 slot, bytes[] calldata proof) internal pure returns (uint256 v) {
        (bool found, bytes calldata value) = get(storageRoot, keccak256(abi.encode(slot)), 32, proof);
        if (!found) return 0;
        uint256 off;
        assembly ("memory-safe") {
            off := value.offset
        }
        (bool isList, uint256 s, uint256 e) = RLPReader.item(off, off + value.length);
        if (isList || e != off + value.length) revert ProofValueInvalid();
        v = RLPReader.uintOf(s, e, 32);
        if (v == 0) revert ProofValueInvalid(); // zero values are deleted, never stored
    }
}
