// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IBridgeEndpoint, IMessageReceiver} from "../interfaces/IBridgeEndpoint.sol";

/// @notice TEST ONLY. Records every message it gets; can be told to revert, and to try a
/// re-entrant delivery (which must fail with AlreadyDelivered) while handling a message.
contract BridgeTestReceiver is IMessageReceiver {
    struct Received {
        bytes32 id;
        uint256 srcChainId;
        address sender;
        bytes payload;
    }

    address public immutable endpoint;
    Received[] private _received;
    bool public failing;
    bytes public reentryCall; // calldata replayed against the endpoint inside onMessage
    bytes public reentryResult; // the revert data of that re-entrant call
    /// @notice A second endpoint this receiver also accepts (an app migrating endpoints).
    address public alsoTrusted;

    error NotEndpoint(address caller);
    error ReceiverRefused(bytes32 id);
    error ReentryUnexpectedlySucceeded();

    constructor(address endpoint_) {
        endpoint = endpoint_;
    }

    function setAlsoTrusted(address endpoint_) external {
        alsoTrusted = endpoint_;
    }

    function setFailing(bool failing_) external {
        failing = failing_;
    }

    function setReentry(bytes calldata call) external {
        reentryCall = call;
    }

    function onMessage(bytes32 id, uint256 srcChainId, address sender, bytes calldata payload) external {
        if (msg.sender != endpoint && msg.sender != alsoTrusted) revert NotEndpoint(msg.sender);
        if (failing) revert ReceiverRefused(id);
        if (reentryCall.length != 0) {
            (bool ok, bytes memory result) = endpoint.call(reentryCall);
            if (ok) revert ReentryUnexpectedlySucceeded();
            reentryResult = result;
        }
        _received.push(Received(id, srcChainId, sender, payload));
    }

    function count() external view returns (uint256) {
        return _received.length;
    }

    function received(uint256 i) external view returns (Received memory) {
        return _received[i];
    }
}

/// @notice TEST ONLY. A wrapped ERC-20 minted by bridge messages in the asset vault's
/// ERC20_TRANSFER layout: abi.encode(uint8 kind = 1, address token, uint256 homeChainId,
/// address recipient, uint256 amount). Stands in for the real wrapped token in gas runs.
contract BridgeTestMintReceiver is ERC20, IMessageReceiver {
    address public immutable endpoint;

    error NotEndpoint(address caller);
    error BadPayload();

    constructor(address endpoint_) ERC20("Bridge Test Wrapped", "BTW") {
        endpoint = endpoint_;
    }

    function onMessage(bytes32, uint256, address, bytes calldata payload) external {
        if (msg.sender != endpoint) revert NotEndpoint(msg.sender);
        if (payload.length != 160) revert BadPayload();
        (uint8 kind,,, address recipient, uint256 amount) =
            abi.decode(payload, (uint8, address, uint256, address, uint256));
        if (kind != 1) revert BadPayload();
        _mint(recipient, amount);
    }
}

/// @notice TEST ONLY. Sends through an endpoint from a contract (the sender is this address);
/// `sendMany` puts a foreign log first and then several messages in one receipt.
contract BridgeTestSender {
    event Noise(uint256 n);

    function sendVia(IBridgeEndpoint endpoint, uint256 dstChainId, address receiver, bytes calldata payload)
        external
        returns (bytes32)
    {
        return endpoint.send(dstChainId, receiver, payload);
    }

    function sendMany(IBridgeEndpoint endpoint, uint256 dstChainId, address receiver, bytes[] calldata payloads)
        external
    {
        emit Noise(payloads.length);
        for (uint256 i; i < payloads.length; ++i) {
            endpoint.send(dstChainId, receiver, payloads[i]);
        }
    }
}
