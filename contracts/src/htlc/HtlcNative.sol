// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {HtlcBase} from "./HtlcBase.sol";

/// @title Hashed-timelock contract for the native coin.
/// @notice Swap key: `keccak256(abi.encode(hashlock, amount, address(0), claimer, refunder, timelock))`.
///   Payouts use `call` (no 2,300-gas stipend) after the swap is deleted.
contract HtlcNative is HtlcBase {
    /// @notice One claim of a batch (the claimer is msg.sender).
    struct ClaimArgs {
        bytes32 preimage;
        uint256 amount;
        address refunder;
        uint256 timelock;
    }

    /// @notice One refund of a batch (the refunder is msg.sender).
    struct RefundArgs {
        bytes32 hashlock;
        uint256 amount;
        address claimer;
        uint256 timelock;
    }

    /// @notice One refund of a `refundForBatch` (any caller; paid to `refunder`).
    struct RefundForArgs {
        bytes32 hashlock;
        uint256 amount;
        address claimer;
        address refunder;
        uint256 timelock;
    }

    /// @notice A swap was opened; together with the contract address this is everything
    ///   needed to claim or refund it.
    event Locked(
        bytes32 indexed hashlock,
        address indexed claimer,
        address indexed refunder,
        uint256 amount,
        uint256 timelock
    );

    /// The native payout was refused by the recipient.
    error TransferFailed(address to, uint256 amount);

    constructor() EIP712("xgate HtlcNative", "1") {}

    /// @notice Locks msg.value for `claimer` under `hashlock` until `timelock` (unix seconds);
    ///   msg.sender can refund from `timelock` on.
    function lock(bytes32 hashlock, address claimer, uint256 timelock) external payable {
        _lock(hashlock, claimer, msg.sender, timelock);
    }

    /// @notice As `lock`, with an explicit refunder (a relayer locking for a user).
    function lockFor(bytes32 hashlock, address claimer, address refunder, uint256 timelock)
        external
        payable
    {
        if (refunder == address(0)) revert ZeroRefunder();
        _lock(hashlock, claimer, refunder, timelock);
    }

    /// @notice Claims a swap whose claimer is msg.sender by revealing the preimage.
    function claim(bytes32 preimage, uint256 amount, address refunder, uint256 timelock) external {
        bytes32 hashlock = _hashlock(preimage);
        _closeForClaim(_key(hashlock, amount, address(0), msg.sender, refunder, timelock), timelock);
        emit Claimed(hashlock, preimage);
        _pay(msg.sender, amount);
    }

    /// @notice Claims for `claimer`, who signed (EIP-712 `Claim`) that msg.sender may submit
    ///   this claim with payout to `destination`.
    function claimWithSig(
        bytes32 preimage,
        uint256 amount,
        address claimer,
        address refunder,
        uint256 timelock,
        address destination,
        bytes calldata signature
    ) external {
        bytes32 hashlock = _hashlock(preimage);
        bytes32 key = _key(hashlock, amount, address(0), claimer, refunder, timelock);
        _checkClaimSignature(key, claimer, destination, signature);
        _closeForClaim(key, timelock);
        emit Claimed(hashlock, preimage);
        _pay(destination, amount);
    }

    /// @notice Claims several swaps of msg.sender; one payout for all.
    function claimBatch(ClaimArgs[] calldata batch) external {
        if (batch.length == 0) revert EmptyBatch();
        uint256 total;
        for (uint256 i; i < batch.length; ++i) {
            ClaimArgs calldata c = batch[i];
            bytes32 hashlock = _hashlock(c.preimage);
            _closeForClaim(
                _key(hashlock, c.amount, address(0), msg.sender, c.refunder, c.timelock),
                c.timelock
            );
            emit Claimed(hashlock, c.preimage);
            total += c.amount;
        }
        _pay(msg.sender, total);
    }

    /// @notice Refunds a swap whose refunder is msg.sender, from the timelock on.
    function refund(bytes32 hashlock, uint256 amount, address claimer, uint256 timelock) external {
        _closeForRefund(_key(hashlock, amount, address(0), claimer, msg.sender, timelock), timelock);
        emit Refunded(hashlock);
        _pay(msg.sender, amount);
    }

    /// @notice Refunds several swaps of msg.sender; one payout for all.
    function refundBatch(RefundArgs[] calldata batch) external {
        if (batch.length == 0) revert EmptyBatch();
        uint256 total;
        for (uint256 i; i < batch.length; ++i) {
            RefundArgs calldata r = batch[i];
            _closeForRefund(
                _key(r.hashlock, r.amount, address(0), r.claimer, msg.sender, r.timelock),
                r.timelock
            );
            emit Refunded(r.hashlock);
            total += r.amount;
        }
        _pay(msg.sender, total);
    }

    /// @notice Refunds a swap to its `refunder`, from the timelock on; anyone may call it. After
    ///   the timelock the refund is the swap's only possible outcome and the value goes to the
    ///   refunder in the key, never to msg.sender.
    function refundFor(
        bytes32 hashlock,
        uint256 amount,
        address claimer,
        address refunder,
        uint256 timelock
    ) external {
        _closeForRefundFor(hashlock, amount, claimer, refunder, timelock);
        _pay(refunder, amount);
    }

    /// @notice `refundFor` of several swaps (any refunders): every swap is closed first, then
    ///   one payout per run of consecutive entries with the same refunder (order the batch by
    ///   refunder for one payout each). A refunder that refuses the payout fails the batch.
    function refundForBatch(RefundForArgs[] calldata batch) external {
        if (batch.length == 0) revert EmptyBatch();
        for (uint256 i; i < batch.length; ++i) {
            RefundForArgs calldata r = batch[i];
            _closeForRefundFor(r.hashlock, r.amount, r.claimer, r.refunder, r.timelock);
        }
        // Effects for the whole batch first, then the payouts.
        address to = batch[0].refunder;
        uint256 total;
        for (uint256 i; i < batch.length; ++i) {
            RefundForArgs calldata r = batch[i];
            if (r.refunder != to) {
                _pay(to, total);
                (to, total) = (r.refunder, 0);
            }
            total += r.amount;
        }
        _pay(to, total);
    }

    function _lock(bytes32 hashlock, address claimer, address refunder, uint256 timelock) private {
        if (msg.value == 0) revert ZeroAmount();
        _open(_key(hashlock, msg.value, address(0), claimer, refunder, timelock), timelock);
        emit Locked(hashlock, claimer, refunder, msg.value, timelock);
    }

    /// Closes a swap for `refundFor` / `refundForBatch` and logs it (one copy of the code: a
    /// further copy of the `Refunded` topic would make the optimizer load it with CODECOPY in
    /// every refund, `refund` included).
    function _closeForRefundFor(
        bytes32 hashlock,
        uint256 amount,
        address claimer,
        address refunder,
        uint256 timelock
    ) private {
        _closeForRefund(_key(hashlock, amount, address(0), claimer, refunder, timelock), timelock);
        emit Refunded(hashlock);
    }

    /// Hand-written call: Solidity's `to.call{value: amount}("")` may copy the returndata,
    /// which a hostile recipient could make large (returnbomb); this call ignores it.
    function _pay(address to, uint256 amount) private {
        bool ok;
        assembly ("memory-safe") {
            ok := call(gas(), to, amount, 0, 0, 0, 0)
        }
        if (!ok) revert TransferFailed(to, amount);
    }
}
