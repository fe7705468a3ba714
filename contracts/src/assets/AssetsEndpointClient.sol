// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IBridgeEndpoint, IMessageReceiver} from "../interfaces/IBridgeEndpoint.sol";

/// @notice Shared plumbing of every asset/credit contract that talks through the endpoint: one
/// registered counterpart per remote chain, which is both the only accepted sender from that
/// chain and the receiver of what this contract sends there.
abstract contract AssetsEndpointClient is AccessControl, IMessageReceiver {
    IBridgeEndpoint public immutable endpoint;

    /// @notice The counterpart contract on `chainId` (zero: that chain is not connected).
    mapping(uint256 chainId => address) public remoteOf;

    event RemoteSet(uint256 indexed chainId, address remote);

    error ZeroAddress();
    error NotEndpoint(address caller);
    error UnknownRemote(uint256 chainId, address sender);
    error NoRemote(uint256 chainId);

    constructor(IBridgeEndpoint endpoint_, address admin) {
        if (address(endpoint_) == address(0) || admin == address(0)) revert ZeroAddress();
        endpoint = endpoint_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Connect (or, with zero, disconnect) the counterpart on `chainId`.
    function setRemote(uint256 chainId, address remote) external onlyRole(DEFAULT_ADMIN_ROLE) {
        remoteOf[chainId] = remote;
        emit RemoteSet(chainId, remote);
    }

    /// @inheritdoc IMessageReceiver
    function onMessage(bytes32 id, uint256 srcChainId, address sender, bytes calldata payload) external {
        if (msg.sender != address(endpoint)) revert NotEndpoint(msg.sender);
        address remote = remoteOf[srcChainId];
        if (remote == address(0) || remote != sender) revert UnknownRemote(srcChainId, sender);
        _handle(id, srcChainId, payload);
    }

    /// @dev A verified message from the registered counterpart on `srcChainId`.
    function _handle(bytes32 id, uint256 srcChainId, bytes calldata payload) internal virtual;

    function _send(uint256 dstChainId, bytes memory payload) internal returns (bytes32) {
        address remote = remoteOf[dstChainId];
        if (remote == address(0)) revert NoRemote(dstChainId);
        return endpoint.send(dstChainId, remote, payload);
    }
}
