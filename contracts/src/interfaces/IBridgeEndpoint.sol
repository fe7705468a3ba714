// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice The cross-chain message endpoint, one per chain.
///
/// Message id (byte-identical in gateway/domain/messages.py, shared vectors prove it):
///   id = keccak256(abi.encode(srcChainId, srcEndpoint, nonce, dstChainId, dstEndpoint, sender,
///                             receiver, keccak256(payload)))
/// with types (uint256, address, uint64, uint256, address, address, address, bytes32). Both
/// endpoints are in it: only the endpoint a message is addressed to can deliver it, so a
/// second endpoint on the destination chain cannot replay it.
interface IBridgeEndpoint {
    /// @notice Emitted by the source endpoint; delivered on the destination with a receipt proof.
    event MessageSent(
        bytes32 indexed id,
        uint256 indexed dstChainId,
        uint64 nonce,
        address dstEndpoint,
        address sender,
        address receiver,
        bytes payload
    );

    /// @notice Emitted by the destination endpoint once the receiver has run.
    event MessageDelivered(bytes32 indexed id, uint256 indexed srcChainId, address receiver);

    /// @notice Send `payload` to `receiver` on `dstChainId` (through the endpoint this one is
    /// routed to there, named `dstEndpoint` in MessageSent); returns the message id.
    function send(uint256 dstChainId, address receiver, bytes calldata payload) external returns (bytes32 id);
}

/// @notice Contracts that accept cross-chain messages implement this; only the endpoint calls it.
interface IMessageReceiver {
    function onMessage(bytes32 id, uint256 srcChainId, address sender, bytes calldata payload) external;
}
