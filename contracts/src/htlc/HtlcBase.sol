// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title Common logic of the xgate hashed-timelock contracts (native coin, ERC-20, ERC-721).
/// @notice One storage slot per swap (Boltz-style): `swaps[key] = true` with
///   `key = keccak256(abi.encode(hashlock, value, token, claimer, refunder, timelock))`,
///   where `value` is the amount (native, ERC-20) or the token id (ERC-721) and `token` is
///   `address(0)` for the native coin. Every call re-supplies the parameters; the slot is
///   deleted on claim or refund. The hashlock is `sha256(preimage)` over an exact 32-byte
///   preimage (`bytes32`), compatible with Bitcoin/Lightning (docs/htlc.md §5.4-5.5).
///   Windows are disjoint: claim only while `block.timestamp < timelock`, refund only from
///   `timelock` on, so a claim and a refund can never race (htlc.md §4.2). From the timelock on
///   the refund to the swap's refunder is therefore its only possible outcome, so anyone may
///   trigger it (`refundFor`, a keeper for the user): it always pays the refunder, never the
///   caller (htlc.md §2.7).
abstract contract HtlcBase is EIP712 {
    /// @notice EIP-712 type of a relayed claim: the claimer lets `submitter` (and only it)
    ///   claim swap `swapKey`, paying out to `destination`. Deleting the swap on claim makes
    ///   every signature single-use.
    bytes32 public constant CLAIM_TYPEHASH =
        keccak256("Claim(bytes32 swapKey,address submitter,address destination)");

    /// @notice Open swaps: key => true. Cleared on claim or refund.
    mapping(bytes32 => bool) public swaps;

    /// @notice The preimage was revealed and the asset paid out.
    event Claimed(bytes32 indexed hashlock, bytes32 preimage);
    /// @notice The asset went back to the refunder after the timelock.
    event Refunded(bytes32 indexed hashlock);

    /// Lock with a timelock that is not in the future.
    error TimelockNotInFuture(uint256 timelock, uint256 now_);
    /// Lock of a zero amount.
    error ZeroAmount();
    /// A swap with exactly these parameters is already open.
    error SwapExists(bytes32 key);
    /// No open swap under these parameters: wrong preimage or party, or already settled.
    error SwapNotFound(bytes32 key);
    /// Claim at or after the timelock.
    error SwapExpired(uint256 timelock);
    /// Refund before the timelock.
    error SwapNotExpired(uint256 timelock);
    /// Relayed claim whose signature is not the claimer's for this swap, caller and destination.
    error InvalidSignature();
    /// A refunder of address(0) (named explicitly, or the `from` of an ERC-721 minted straight
    /// into the HTLC): nobody could ever refund the swap.
    error ZeroRefunder();
    /// The sha256 precompile call failed or returned no hash (see `_hashlock`).
    error Sha256Failed();
    /// A batch without entries.
    error EmptyBatch();

    /// @notice The storage key of a swap (also computed off-chain by the gateway).
    function swapKey(
        bytes32 hashlock,
        uint256 value,
        address token,
        address claimer,
        address refunder,
        uint256 timelock
    ) external pure returns (bytes32) {
        return _key(hashlock, value, token, claimer, refunder, timelock);
    }

    /// @notice EIP-712 digest the claimer signs to let `submitter` claim to `destination`.
    function claimDigest(bytes32 key, address submitter, address destination)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(CLAIM_TYPEHASH, key, submitter, destination)));
    }

    // -- internals ---------------------------------------------------------------------------

    /// Hand-written: abi.encode + keccak256 costs a free-memory-pointer bump and copies per
    /// call; the six words go to free memory without moving the pointer (scratch use).
    function _key(
        bytes32 hashlock,
        uint256 value,
        address token,
        address claimer,
        address refunder,
        uint256 timelock
    ) internal pure returns (bytes32 key) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, hashlock)
            mstore(add(m, 0x20), value)
            mstore(add(m, 0x40), token)
            mstore(add(m, 0x60), claimer)
            mstore(add(m, 0x80), refunder)
            mstore(add(m, 0xa0), timelock)
            key := keccak256(m, 0xc0)
        }
    }

    /// sha256 of the 32-byte preimage through the precompile, in scratch space. The output
    /// overwrites the input, so a call that fails (at the call-depth limit every call fails and
    /// the frame lives on) or answers nothing (a chain without the precompile) would leave the
    /// preimage there as its own "hash", matching a swap with the public hashlock: revert.
    function _hashlock(bytes32 preimage) internal view returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, preimage)
            let ok := staticcall(gas(), 0x02, 0x00, 0x20, 0x00, 0x20)
            // After the call (Yul evaluates arguments right to left): its output size.
            if iszero(and(ok, eq(returndatasize(), 0x20))) {
                mstore(0x00, 0xc176b3c5) // Sha256Failed()
                revert(0x1c, 0x04)
            }
            h := mload(0x00)
        }
    }

    /// Opens a swap: checks the timelock and that no identical swap is open.
    function _open(bytes32 key, uint256 timelock) internal {
        if (timelock <= block.timestamp) revert TimelockNotInFuture(timelock, block.timestamp);
        if (swaps[key]) revert SwapExists(key);
        swaps[key] = true;
    }

    /// Closes a swap for a claim: before the timelock only. Effects before interactions.
    function _closeForClaim(bytes32 key, uint256 timelock) internal {
        if (block.timestamp >= timelock) revert SwapExpired(timelock);
        if (!swaps[key]) revert SwapNotFound(key);
        delete swaps[key];
    }

    /// Closes a swap for a refund (`refund` by the refunder, `refundFor` by anyone for the
    /// refunder): from the timelock on only.
    function _closeForRefund(bytes32 key, uint256 timelock) internal {
        if (block.timestamp < timelock) revert SwapNotExpired(timelock);
        if (!swaps[key]) revert SwapNotFound(key);
        delete swaps[key];
    }

    /// Reverts unless `claimer` signed (EOA or ERC-1271) that msg.sender may claim `key` to
    /// `destination`.
    function _checkClaimSignature(
        bytes32 key,
        address claimer,
        address destination,
        bytes calldata signature
    ) internal view {
        bytes32 digest = claimDigest(key, msg.sender, destination);
        // EOA signature, or ERC-1271 when the claimer is a contract wallet (e.g. a Safe).
        bool valid = SignatureChecker.isValidSignatureNow(claimer, digest, signature);
        if (!valid) revert InvalidSignature();
    }
}
