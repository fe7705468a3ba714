// SPDX-License-Identifier: Apache-2.0
// Test-only: exposes the RLP / Merkle-Patricia / receipt libraries as external functions.
pragma solidity 0.8.30;

import {MerklePatricia} from "../lib/MerklePatricia.sol";
import {ReceiptProof} from "../lib/ReceiptProof.sol";

contract LcLibHarness {
    event LogProven(address emitter, bytes32[] topics, bytes data);

    function mptGet(bytes32 root, bytes calldata key, bytes[] calldata proof)
        external
        pure
        returns (bool found, bytes memory value)
    {
        if (key.length > 32) revert MerklePatricia.ProofKeyTooLong(key.length);
        bytes32 k = key.length == 0 ? bytes32(0) : bytes32(key);
        // bytes32(bytes calldata) reads up to 32 bytes, zero-padded: mask what is not the key
        if (key.length < 32) k &= ~bytes32(type(uint256).max >> (8 * key.length));
        return MerklePatricia.get(root, k, key.length, proof);
    }

    function receiptAt(bytes32 receiptsRoot, uint256 txIndex, bytes[] calldata proof)
        external
        pure
        returns (bytes memory receipt, uint256 status)
    {
        bytes calldata r = ReceiptProof.receiptAt(receiptsRoot, txIndex, proof);
        return (r, ReceiptProof.statusOf(r));
    }

    function logAt(bytes32 receiptsRoot, uint256 txIndex, bytes[] calldata proof, uint256 logIndex)
        external
        pure
        returns (address emitter, bytes32[] memory topics, bytes memory data)
    {
        return ReceiptProof.logAt(receiptsRoot, txIndex, proof, logIndex);
    }

    /// @dev For gas measurement: a transaction that proves a log and does nothing else.
    function proveLog(bytes32 receiptsRoot, uint256 txIndex, bytes[] calldata proof, uint256 logIndex)
        external
        pure
        returns (address emitter)
    {
        (emitter,,) = ReceiptProof.logAt(receiptsRoot, txIndex, proof, logIndex);
    }

    function account(bytes32 stateRoot, address addr, bytes[] calldata proof)
        external
        pure
        returns (bool exists, uint256 nonce, uint256 balance, bytes32 storageRoot, bytes32 codeHash)
    {
        return MerklePatricia.account(stateRoot, addr, proof);
    }

    function storageAt(bytes32 storageRoot, uint256 slot, bytes[] calldata proof) external pure returns (uint256) {
        return MerklePatricia.storageAt(storageRoot, slot, proof);
    }

    function indexKey(uint256 txIndex) external pure returns (bytes32 key, uint256 keyLength) {
        return ReceiptProof.indexKey(txIndex);
    }
}
