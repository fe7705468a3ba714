// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {IERC721Receiver} from "@openzeppelin/contracts/token/ERC721/IERC721Receiver.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {HtlcBase} from "./HtlcBase.sol";

/// @title Hashed-timelock contract for ERC-721 tokens.
/// @notice Lock in one transaction, no approval: the owner calls
///   `token.safeTransferFrom(owner, htlc, tokenId, data)` with
///   `data = abi.encode(hashlock, claimer, timelock)` (the previous owner refunds) or
///   `abi.encode(hashlock, claimer, refunder, timelock)`; a token minted straight into the HTLC
///   (`_safeMint`, `from` = 0) must use the second form. The token is `msg.sender` of
///   `onERC721Received`, so a swap is only as good as the token contract it names; the gateway
///   checks the token address before it acts on a lock.
///   Swap key: `keccak256(abi.encode(hashlock, tokenId, token, claimer, refunder, timelock))`.
///   Claims pay out with `safeTransferFrom` (a claimer contract must accept ERC-721; otherwise
///   it claims through `claimWithSig` to another destination). Refunds (`refund`, and
///   `refundFor` by anyone for the refunder) use `transferFrom`: the token goes back where it
///   came from, and a refunder without the receiver hook (a vault that sent it) must not be
///   able to block its own refund.
contract HtlcErc721 is HtlcBase, IERC721Receiver {
    /// @notice One claim of a batch (the claimer is msg.sender).
    struct ClaimArgs {
        bytes32 preimage;
        uint256 tokenId;
        address token;
        address refunder;
        uint256 timelock;
    }

    /// @notice One refund of a batch (the refunder is msg.sender).
    struct RefundArgs {
        bytes32 hashlock;
        uint256 tokenId;
        address token;
        address claimer;
        uint256 timelock;
    }

    /// @notice One refund of a `refundForBatch` (any caller; paid to `refunder`).
    struct RefundForArgs {
        bytes32 hashlock;
        uint256 tokenId;
        address token;
        address claimer;
        address refunder;
        uint256 timelock;
    }

    /// @notice A swap was opened; with the contract address this is everything needed to claim
    ///   or refund it.
    event Locked(
        bytes32 indexed hashlock,
        address indexed claimer,
        address indexed refunder,
        address token,
        uint256 tokenId,
        uint256 timelock
    );

    /// `data` of a received token is not one of the two lock encodings.
    error InvalidLockData();
    /// `onERC721Received` was called without the token having been transferred to this contract.
    error TokenNotReceived(address token, uint256 tokenId);

    constructor() EIP712("xgate HtlcErc721", "1") {}

    /// @notice Lock entry point, called by the token during `safeTransferFrom`.
    function onERC721Received(address, address from, uint256 tokenId, bytes calldata data)
        external
        returns (bytes4)
    {
        bytes32 hashlock;
        address claimer;
        address refunder = from;
        uint256 timelock;
        // Hand-decoded: abi.decode would revert without a custom error on short data or on
        // dirty address words.
        if (data.length == 96) {
            hashlock = bytes32(data[0:32]);
            claimer = _address(data[32:64]);
            timelock = uint256(bytes32(data[64:96]));
        } else if (data.length == 128) {
            hashlock = bytes32(data[0:32]);
            claimer = _address(data[32:64]);
            refunder = _address(data[64:96]);
            timelock = uint256(bytes32(data[96:128]));
        } else {
            revert InvalidLockData();
        }
        // Named as zero, or implied by a mint (`from` = 0 under `_safeMint`): the token would be
        // stuck for good once the timelock passed.
        if (refunder == address(0)) revert ZeroRefunder();
        // The token transfers before it calls back: a call by anything else is refused.
        if (!_holds(msg.sender, tokenId)) revert TokenNotReceived(msg.sender, tokenId);
        _open(_key(hashlock, tokenId, msg.sender, claimer, refunder, timelock), timelock);
        emit Locked(hashlock, claimer, refunder, msg.sender, tokenId, timelock);
        return IERC721Receiver.onERC721Received.selector;
    }

    /// @notice Claims a swap whose claimer is msg.sender by revealing the preimage.
    function claim(
        bytes32 preimage,
        uint256 tokenId,
        address token,
        address refunder,
        uint256 timelock
    ) external {
        bytes32 hashlock = _hashlock(preimage);
        _closeForClaim(_key(hashlock, tokenId, token, msg.sender, refunder, timelock), timelock);
        emit Claimed(hashlock, preimage);
        IERC721(token).safeTransferFrom(address(this), msg.sender, tokenId);
    }

    /// @notice Claims for `claimer`, who signed (EIP-712 `Claim`) that msg.sender may submit
    ///   this claim with payout to `destination`.
    function claimWithSig(
        bytes32 preimage,
        uint256 tokenId,
        address token,
        address claimer,
        address refunder,
        uint256 timelock,
        address destination,
        bytes calldata signature
    ) external {
        bytes32 hashlock = _hashlock(preimage);
        bytes32 key = _key(hashlock, tokenId, token, claimer, refunder, timelock);
        _checkClaimSignature(key, claimer, destination, signature);
        _closeForClaim(key, timelock);
        emit Claimed(hashlock, preimage);
        IERC721(token).safeTransferFrom(address(this), destination, tokenId);
    }

    /// @notice Claims several swaps of msg.sender (one transfer per token id).
    function claimBatch(ClaimArgs[] calldata batch) external {
        if (batch.length == 0) revert EmptyBatch();
        for (uint256 i; i < batch.length; ++i) {
            ClaimArgs calldata c = batch[i];
            bytes32 hashlock = _hashlock(c.preimage);
            _closeForClaim(
                _key(hashlock, c.tokenId, c.token, msg.sender, c.refunder, c.timelock), c.timelock
            );
            emit Claimed(hashlock, c.preimage);
        }
        // Effects for the whole batch first, then the transfers.
        for (uint256 i; i < batch.length; ++i) {
            IERC721(batch[i].token).safeTransferFrom(address(this), msg.sender, batch[i].tokenId);
        }
    }

    /// @notice Refunds a swap whose refunder is msg.sender, from the timelock on.
    function refund(
        bytes32 hashlock,
        uint256 tokenId,
        address token,
        address claimer,
        uint256 timelock
    ) external {
        _closeForRefund(_key(hashlock, tokenId, token, claimer, msg.sender, timelock), timelock);
        emit Refunded(hashlock);
        IERC721(token).transferFrom(address(this), msg.sender, tokenId);
    }

    /// @notice Refunds several swaps of msg.sender (one transfer per token id; see `refund`).
    function refundBatch(RefundArgs[] calldata batch) external {
        if (batch.length == 0) revert EmptyBatch();
        for (uint256 i; i < batch.length; ++i) {
            RefundArgs calldata r = batch[i];
            _closeForRefund(
                _key(r.hashlock, r.tokenId, r.token, r.claimer, msg.sender, r.timelock), r.timelock
            );
            emit Refunded(r.hashlock);
        }
        for (uint256 i; i < batch.length; ++i) {
            IERC721(batch[i].token).transferFrom(address(this), msg.sender, batch[i].tokenId);
        }
    }

    /// @notice Refunds a swap to its `refunder`, from the timelock on; anyone may call it. After
    ///   the timelock the refund is the swap's only possible outcome and the token goes to the
    ///   refunder in the key (with `transferFrom`, as `refund`), never to msg.sender.
    function refundFor(
        bytes32 hashlock,
        uint256 tokenId,
        address token,
        address claimer,
        address refunder,
        uint256 timelock
    ) external {
        _closeForRefundFor(hashlock, tokenId, token, claimer, refunder, timelock);
        IERC721(token).transferFrom(address(this), refunder, tokenId);
    }

    /// @notice `refundFor` of several swaps (any refunders; one transfer per token id).
    function refundForBatch(RefundForArgs[] calldata batch) external {
        if (batch.length == 0) revert EmptyBatch();
        for (uint256 i; i < batch.length; ++i) {
            RefundForArgs calldata r = batch[i];
            _closeForRefundFor(r.hashlock, r.tokenId, r.token, r.claimer, r.refunder, r.timelock);
        }
        for (uint256 i; i < batch.length; ++i) {
            RefundForArgs calldata r = batch[i];
            IERC721(r.token).transferFrom(address(this), r.refunder, r.tokenId);
        }
    }

    /// Closes a swap for `refundFor` / `refundForBatch` and logs it (one copy of the code: a
    /// further copy of the `Refunded` topic would make the optimizer load it with CODECOPY in
    /// every refund, `refund` included).
    function _closeForRefundFor(
        bytes32 hashlock,
        uint256 tokenId,
        address token,
        address claimer,
        address refunder,
        uint256 timelock
    ) private {
        _closeForRefund(_key(hashlock, tokenId, token, claimer, refunder, timelock), timelock);
        emit Refunded(hashlock);
    }

    /// Whether `token.ownerOf(tokenId)` is this contract. Hand-written staticcall so that a
    /// caller without code, or one that answers garbage, gets TokenNotReceived instead of an
    /// empty revert from the ABI decoder.
    function _holds(address token, uint256 tokenId) private view returns (bool ok) {
        assembly ("memory-safe") {
            mstore(0x00, 0x6352211e) // ownerOf(uint256)
            mstore(0x20, tokenId)
            ok := staticcall(gas(), token, 0x1c, 0x24, 0x00, 0x20)
            ok := and(ok, and(gt(returndatasize(), 0x1f), eq(mload(0x00), address())))
        }
    }

    /// An ABI address word: the upper 12 bytes must be zero.
    function _address(bytes calldata word) private pure returns (address a) {
        uint256 raw = uint256(bytes32(word));
        if (raw >> 160 != 0) revert InvalidLockData();
        a = address(uint160(raw));
    }
}
