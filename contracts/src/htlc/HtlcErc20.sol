// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {HtlcBase} from "./HtlcBase.sol";

/// @title Hashed-timelock contract for ERC-20 tokens.
/// @notice Swap key: `keccak256(abi.encode(hashlock, amount, token, claimer, refunder, timelock))`.
///   Transfers go through SafeERC20 (tokens that return nothing, like USDT, work; tokens that
///   return false are refused). The contract records the nominal amount: fee-on-transfer and
///   rebasing tokens are not supported (the gateway must not offer them).
contract HtlcErc20 is HtlcBase {
    using SafeERC20 for IERC20;

    /// @notice One claim of a batch (the claimer is msg.sender).
    struct ClaimArgs {
        bytes32 preimage;
        uint256 amount;
        address token;
        address refunder;
        uint256 timelock;
    }

    /// @notice One refund of a batch (the refunder is msg.sender).
    struct RefundArgs {
        bytes32 hashlock;
        uint256 amount;
        address token;
        address claimer;
        uint256 timelock;
    }

    /// @notice One refund of a `refundForBatch` (any caller; paid to `refunder`).
    struct RefundForArgs {
        bytes32 hashlock;
        uint256 amount;
        address token;
        address claimer;
        address refunder;
        uint256 timelock;
    }

    /// @notice An EIP-2612 permit of msg.sender for this contract and exactly `amount`.
    struct Permit {
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice A swap was opened; with the contract address this is everything needed to claim
    ///   or refund it.
    event Locked(
        bytes32 indexed hashlock,
        address indexed claimer,
        address indexed refunder,
        address token,
        uint256 amount,
        uint256 timelock
    );

    /// The permit failed and no allowance covers the amount.
    error PermitFailed(address token);

    constructor() EIP712("xgate HtlcErc20", "1") {}

    /// @notice Locks `amount` of `token` from msg.sender (needs an allowance) for `claimer`;
    ///   msg.sender can refund from `timelock` (unix seconds) on.
    function lock(bytes32 hashlock, uint256 amount, address token, address claimer, uint256 timelock)
        external
    {
        _lock(hashlock, amount, token, claimer, msg.sender, timelock);
    }

    /// @notice As `lock`, paid by msg.sender with an explicit refunder.
    function lockFor(
        bytes32 hashlock,
        uint256 amount,
        address token,
        address claimer,
        address refunder,
        uint256 timelock
    ) external {
        if (refunder == address(0)) revert ZeroRefunder();
        _lock(hashlock, amount, token, claimer, refunder, timelock);
    }

    /// @notice As `lock`, with an EIP-2612 permit in the same call (no separate approve).
    ///   A permit that was already used (e.g. front-run from the mempool) is accepted when the
    ///   allowance it set still covers `amount`.
    function lockWithPermit(
        bytes32 hashlock,
        uint256 amount,
        address token,
        address claimer,
        uint256 timelock,
        Permit calldata permit
    ) external {
        try IERC20Permit(token).permit(
            msg.sender, address(this), amount, permit.deadline, permit.v, permit.r, permit.s
        ) {} catch {
            if (IERC20(token).allowance(msg.sender, address(this)) < amount) {
                revert PermitFailed(token);
            }
        }
        _lock(hashlock, amount, token, claimer, msg.sender, timelock);
    }

    /// @notice Claims a swap whose claimer is msg.sender by revealing the preimage.
    function claim(
        bytes32 preimage,
        uint256 amount,
        address token,
        address refunder,
        uint256 timelock
    ) external {
        bytes32 hashlock = _hashlock(preimage);
        _closeForClaim(_key(hashlock, amount, token, msg.sender, refunder, timelock), timelock);
        emit Claimed(hashlock, preimage);
        IERC20(token).safeTransfer(msg.sender, amount);
    }

    /// @notice Claims for `claimer`, who signed (EIP-712 `Claim`) that msg.sender may submit
    ///   this claim with payout to `destination`.
    function claimWithSig(
        bytes32 preimage,
        uint256 amount,
        address token,
        address claimer,
        address refunder,
        uint256 timelock,
        address destination,
        bytes calldata signature
    ) external {
        bytes32 hashlock = _hashlock(preimage);
        bytes32 key = _key(hashlock, amount, token, claimer, refunder, timelock);
        _checkClaimSignature(key, claimer, destination, signature);
        _closeForClaim(key, timelock);
        emit Claimed(hashlock, preimage);
        IERC20(token).safeTransfer(destination, amount);
    }

    /// @notice Claims several swaps of msg.sender. Consecutive entries of the same token are
    ///   paid out in one transfer (order the batch by token for one transfer per token).
    function claimBatch(ClaimArgs[] calldata batch) external {
        if (batch.length == 0) revert EmptyBatch();
        address token = batch[0].token;
        uint256 total;
        for (uint256 i; i < batch.length; ++i) {
            ClaimArgs calldata c = batch[i];
            if (c.token != token) {
                IERC20(token).safeTransfer(msg.sender, total);
                (token, total) = (c.token, 0);
            }
            bytes32 hashlock = _hashlock(c.preimage);
            _closeForClaim(
                _key(hashlock, c.amount, c.token, msg.sender, c.refunder, c.timelock), c.timelock
            );
            emit Claimed(hashlock, c.preimage);
            total += c.amount;
        }
        IERC20(token).safeTransfer(msg.sender, total);
    }

    /// @notice Refunds a swap whose refunder is msg.sender, from the timelock on.
    function refund(
        bytes32 hashlock,
        uint256 amount,
        address token,
        address claimer,
        uint256 timelock
    ) external {
        _closeForRefund(_key(hashlock, amount, token, claimer, msg.sender, timelock), timelock);
        emit Refunded(hashlock);
        IERC20(token).safeTransfer(msg.sender, amount);
    }

    /// @notice Refunds several swaps of msg.sender; consecutive entries of the same token are
    ///   paid back in one transfer.
    function refundBatch(RefundArgs[] calldata batch) external {
        if (batch.length == 0) revert EmptyBatch();
        address token = batch[0].token;
        uint256 total;
        for (uint256 i; i < batch.length; ++i) {
            RefundArgs calldata r = batch[i];
            if (r.token != token) {
                IERC20(token).safeTransfer(msg.sender, total);
                (token, total) = (r.token, 0);
            }
            _closeForRefund(
                _key(r.hashlock, r.amount, r.token, r.claimer, msg.sender, r.timelock), r.timelock
            );
            emit Refunded(r.hashlock);
            total += r.amount;
        }
        IERC20(token).safeTransfer(msg.sender, total);
    }

    /// @notice Refunds a swap to its `refunder`, from the timelock on; anyone may call it. After
    ///   the timelock the refund is the swap's only possible outcome and the tokens go to the
    ///   refunder in the key, never to msg.sender.
    function refundFor(
        bytes32 hashlock,
        uint256 amount,
        address token,
        address claimer,
        address refunder,
        uint256 timelock
    ) external {
        _closeForRefundFor(hashlock, amount, token, claimer, refunder, timelock);
        IERC20(token).safeTransfer(refunder, amount);
    }

    /// @notice `refundFor` of several swaps (any refunders): every swap is closed first, then
    ///   one transfer per run of consecutive entries with the same token and refunder (order
    ///   the batch by token and refunder).
    function refundForBatch(RefundForArgs[] calldata batch) external {
        if (batch.length == 0) revert EmptyBatch();
        for (uint256 i; i < batch.length; ++i) {
            RefundForArgs calldata r = batch[i];
            _closeForRefundFor(r.hashlock, r.amount, r.token, r.claimer, r.refunder, r.timelock);
        }
        // Effects for the whole batch first, then the transfers.
        (address token, address to) = (batch[0].token, batch[0].refunder);
        uint256 total;
        for (uint256 i; i < batch.length; ++i) {
            RefundForArgs calldata r = batch[i];
            if (r.token != token || r.refunder != to) {
                IERC20(token).safeTransfer(to, total);
                (token, to, total) = (r.token, r.refunder, 0);
            }
            total += r.amount;
        }
        IERC20(token).safeTransfer(to, total);
    }

    /// Closes a swap for `refundFor` / `refundForBatch` and logs it (one copy of the code: a
    /// further copy of the `Refunded` topic would make the optimizer load it with CODECOPY in
    /// every refund, `refund` included).
    function _closeForRefundFor(
        bytes32 hashlock,
        uint256 amount,
        address token,
        address claimer,
        address refunder,
        uint256 timelock
    ) private {
        _closeForRefund(_key(hashlock, amount, token, claimer, refunder, timelock), timelock);
        emit Refunded(hashlock);
    }

    function _lock(
        bytes32 hashlock,
        uint256 amount,
        address token,
        address claimer,
        address refunder,
        uint256 timelock
    ) private {
        if (amount == 0) revert ZeroAmount();
        _open(_key(hashlock, amount, token, claimer, refunder, timelock), timelock);
        emit Locked(hashlock, claimer, refunder, token, amount, timelock);
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
    }
}
