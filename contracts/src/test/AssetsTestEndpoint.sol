// SPDX-License-Identifier: Apache-2.0
// Test-only: stands in for the BridgeEndpoint in asset/credit tests. `send` records the message
// (and emits MessageSent with the real id rule); `deliver` calls a receiver's onMessage as the
// destination endpoint would after verifying a proof. No verification at all: tests only.
// With `record` off it keeps nothing but the nonce (bench/gas_assets.py: send costs close to
// the real endpoint's, without its route and rate-limit checks).
pragma solidity 0.8.30;

import {IBridgeEndpoint, IMessageReceiver} from "../interfaces/IBridgeEndpoint.sol";

contract AssetsTestEndpoint is IBridgeEndpoint {
    struct Sent {
        bytes32 id;
        uint256 dstChainId;
        uint64 nonce;
        address sender;
        address receiver;
        bytes payload;
    }

    Sent[] private _sent;
    uint64 public nonce;
    bool public immutable record;
    /// @notice The pause views of BridgeEndpoint (held transfers read them), set by any caller.
    bool public paused;
    mapping(uint256 chainId => bool) private _routePaused;

    constructor(bool record_) {
        record = record_;
    }

    function send(uint256 dstChainId, address receiver, bytes calldata payload) external returns (bytes32 id) {
        uint64 n = nonce++;
        // The destination endpoint is this one: both sides of a test share it.
        id = keccak256(
            abi.encode(
                block.chainid, address(this), n, dstChainId, address(this), msg.sender, receiver, keccak256(payload)
            )
        );
        if (record) _sent.push(Sent(id, dstChainId, n, msg.sender, receiver, payload));
        emit MessageSent(id, dstChainId, n, address(this), msg.sender, receiver, payload);
    }

    function setPaused(bool on) external {
        paused = on;
    }

    function setRoutePaused(uint256 chainId, bool on) external {
        _routePaused[chainId] = on;
    }

    /// @notice BridgeEndpoint.route's shape: (remote endpoint, oracle, route paused).
    function route(uint256 chainId) external view returns (address, address, bool) {
        return (address(this), address(0), _routePaused[chainId]);
    }

    function sentCount() external view returns (uint256) {
        return _sent.length;
    }

    function sentAt(uint256 i) external view returns (Sent memory) {
        return _sent[i];
    }

    /// @notice Call `receiver.onMessage` as the endpoint; the receiver's revert bubbles up.
    function deliver(bytes32 id, uint256 srcChainId, address sender, address receiver, bytes calldata payload)
        external
    {
        IMessageReceiver(receiver).onMessage(id, srcChainId, sender, payload);
        emit MessageDelivered(id, srcChainId, receiver);
    }
}
