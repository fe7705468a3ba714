// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IBridgeEndpoint, IMessageReceiver} from "../interfaces/IBridgeEndpoint.sol";
import {IHeaderOracle} from "../interfaces/IHeaderOracle.sol";
import {ReceiptProof} from "../lib/ReceiptProof.sol";

/// @title BridgeEndpoint: the cross-chain message endpoint, one per chain.
/// @notice `send` emits MessageSent; `deliver` accepts a message from a remote endpoint proven
/// by a receipt proof against a header its route's IHeaderOracle accepted (the QBFT light
/// client on public chains, the attested header store on the consortium chain). Anyone may
/// relay: the proof is the only thing trusted.
///
/// Routes are keyed by the remote chain id: the remote endpoint (the only emitter whose logs
/// are accepted from that chain, and the only endpoint messages sent there are addressed to)
/// and the header oracle for that chain. A message id binds both endpoints (IBridgeEndpoint):
/// a second endpoint on the destination chain, even one routed to the same source, refuses
/// a message addressed to the first (WrongEndpoint), so it cannot run twice.
///
/// No message-count limits here: `send` is permissionless, so a count anyone can consume would
/// let a stranger exhaust it and block every app's transfers. Damage limits count value, per
/// token and remote chain, in the apps that move value (AssetVault, WrappedAssetGateway: token
/// buckets, delays of large transfers, a guardian that cancels). A stranger's message reaches
/// only receivers that accept its sender (apps check their registered remote counterpart).
///
/// Pause: PAUSER_ROLE (the guardian) pauses everything (`pause`) or one route (`pauseRoute`);
/// only the admin (DEFAULT_ADMIN_ROLE, the timelock in a deployment) unpauses. A paused route blocks send to and delivery
/// from that chain (RoutePaused); a global pause blocks every route (Paused).
///
/// A receiver that reverts makes the whole delivery revert (ReceiverFailed with its reason):
/// nothing is recorded, the message stays undelivered and anyone may deliver it again later
/// (e.g. once the receiver is fixed or unpaused). Delivery order is free: ids, not sequence
/// numbers, guard against replay, so one stuck message never blocks the others. A relayer
/// that gives too little gas for the receiver only makes its own transaction fail.
contract BridgeEndpoint is IBridgeEndpoint, AccessControl {
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    uint8 private constant ROUTE_PAUSED = 1; // pauseRoute
    uint8 private constant ALL_PAUSED = 2; // pause: set on every route

    /// @dev Slot 0 is all `send` reads (the pause flags ride along with the remote endpoint);
    /// `deliver` reads slots 0 and 1. Hand-packed instead of OpenZeppelin Pausable: saves a
    /// cold SLOAD per message.
    struct Route {
        // slot 0
        address remoteEndpoint; // zero: no route
        uint8 pauseFlags;
        // slot 1
        IHeaderOracle oracle;
    }

    /// @notice One message of a batch: its receipt (index + proof) and log index in the block.
    struct Delivery {
        uint256 txIndex;
        uint256 logIndex;
        bytes[] proof;
    }

    error UnknownRoute(uint256 chainId);
    error RoutePaused(uint256 chainId);
    error Paused();
    error NotPaused();
    error ZeroAddress();
    error WrongEmitter(address emitter, address expected);
    error NotMessageSent();
    error WrongDestination(uint256 dstChainId);
    error WrongEndpoint(address dstEndpoint);
    error MalformedMessage();
    error IdMismatch(bytes32 logId, bytes32 computed);
    error AlreadyDelivered(bytes32 id);
    error EmptyBatch();
    error ReceiverNotContract(address receiver);
    error ReceiverFailed(bytes32 id, bytes reason);

    event RouteSet(uint256 indexed chainId, address remoteEndpoint, address oracle);
    event RoutePauseSet(uint256 indexed chainId, bool paused);
    event PauseSet(bool paused);

    /// @notice Nonce of the next message sent from here.
    uint64 public nextNonce;
    /// @notice Global pause (mirrored into every route's flags, which is what is checked).
    bool public paused;

    mapping(uint256 chainId => Route) private _routes;
    uint256[] private _routeIds;

    /// @notice Ids of delivered messages (one slot each; never cleared).
    mapping(bytes32 id => bool) public delivered;

    constructor(address admin, address pauser) {
        if (admin == address(0) || pauser == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, pauser);
    }

    // ---- sending ---------------------------------------------------------------------------

    /// @inheritdoc IBridgeEndpoint
    function send(uint256 dstChainId, address receiver, bytes calldata payload) external returns (bytes32 id) {
        if (receiver == address(0)) revert ZeroAddress();
        address dstEndpoint = _openRoute(dstChainId).remoteEndpoint;
        uint64 nonce = nextNonce++;
        id = _messageId(
            block.chainid, address(this), nonce, dstChainId, dstEndpoint, msg.sender, receiver, keccak256(payload)
        );
        emit MessageSent(id, dstChainId, nonce, dstEndpoint, msg.sender, receiver, payload);
    }

    /// @notice The message id rule of IBridgeEndpoint (shared vectors check it against Python).
    function messageId(
        uint256 srcChainId,
        address srcEndpoint,
        uint64 nonce,
        uint256 dstChainId,
        address dstEndpoint,
        address sender,
        address receiver,
        bytes calldata payload
    ) external pure returns (bytes32) {
        return _messageId(srcChainId, srcEndpoint, nonce, dstChainId, dstEndpoint, sender, receiver, keccak256(payload));
    }

    // ---- delivery --------------------------------------------------------------------------

    /// @notice Deliver the message in log `logIndex` (0-based within its receipt) of receipt
    /// `txIndex` of block `blockHash` of chain `srcChainId`, proven by `proof` (receipts-trie
    /// nodes, root to leaf, as eth_getProof lists them). Anyone may call it.
    function deliver(uint256 srcChainId, bytes32 blockHash, uint256 txIndex, bytes[] calldata proof, uint256 logIndex)
        external
        returns (bytes32 id)
    {
        (address remote, bytes32 root) = _inboundRoot(srcChainId, blockHash);
        return _deliverOne(srcChainId, remote, root, txIndex, proof, logIndex);
    }

    /// @notice Deliver several messages from one block of `srcChainId` (one route and header
    /// lookup). All or nothing: any bad item reverts the batch.
    function deliverBatch(uint256 srcChainId, bytes32 blockHash, Delivery[] calldata items)
        external
        returns (bytes32[] memory ids)
    {
        if (items.length == 0) revert EmptyBatch();
        (address remote, bytes32 root) = _inboundRoot(srcChainId, blockHash);
        ids = new bytes32[](items.length);
        for (uint256 i; i < items.length; ++i) {
            Delivery calldata item = items[i];
            ids[i] = _deliverOne(srcChainId, remote, root, item.txIndex, item.proof, item.logIndex);
        }
    }

    /// @dev Route checks and the accepted header's receiptsRoot (the oracle reverts
    /// UnknownHeader for a header it has not accepted).
    function _inboundRoot(uint256 srcChainId, bytes32 blockHash) private view returns (address remote, bytes32 root) {
        Route storage r = _openRoute(srcChainId);
        root = r.oracle.receiptsRootOf(srcChainId, blockHash);
        if (root == bytes32(0)) revert IHeaderOracle.UnknownHeader(srcChainId, blockHash);
        return (r.remoteEndpoint, root);
    }

    function _deliverOne(
        uint256 srcChainId,
        address remoteEndpoint,
        bytes32 receiptsRoot,
        uint256 txIndex,
        bytes[] calldata proof,
        uint256 logIndex
    ) private returns (bytes32) {
        (address emitter, bytes32[] memory topics, bytes calldata data) =
            ReceiptProof.logAt(receiptsRoot, txIndex, proof, logIndex);
        if (emitter != remoteEndpoint) revert WrongEmitter(emitter, remoteEndpoint);
        return _accept(srcChainId, remoteEndpoint, topics, data);
    }

    /// @dev `topics`/`data` are a log of the registered remote endpoint, proven in an accepted
    /// block: check it is a MessageSent for this chain and this endpoint whose id matches, then
    /// run it once. Data words: 0 nonce, 1 dstEndpoint, 2 sender, 3 receiver, 4 payload offset.
    function _accept(uint256 srcChainId, address remoteEndpoint, bytes32[] memory topics, bytes calldata data)
        private
        returns (bytes32 id)
    {
        if (topics.length != 3 || topics[0] != IBridgeEndpoint.MessageSent.selector) revert NotMessageSent();
        if (uint256(topics[2]) != block.chainid) revert WrongDestination(uint256(topics[2]));
        bytes calldata payload = _sentPayload(data);
        address dstEndpoint = address(uint160(uint256(bytes32(data[32:64]))));
        if (dstEndpoint != address(this)) revert WrongEndpoint(dstEndpoint);
        // The data words are checked canonical, so hashing them as-is equals abi.encode of the
        // decoded (uint64 nonce, address dstEndpoint, address sender, address receiver).
        id = keccak256(
            abi.encode(
                srcChainId,
                remoteEndpoint,
                bytes32(data[0:32]),
                block.chainid,
                bytes32(data[32:64]),
                bytes32(data[64:96]),
                bytes32(data[96:128]),
                keccak256(payload)
            )
        );
        if (id != topics[1]) revert IdMismatch(topics[1], id);
        if (delivered[id]) revert AlreadyDelivered(id);
        delivered[id] = true; // before the call: a re-entrant delivery of the same id fails
        address receiver = address(uint160(uint256(bytes32(data[96:128]))));
        if (receiver.code.length == 0) revert ReceiverNotContract(receiver);
        address sender = address(uint160(uint256(bytes32(data[64:96]))));
        // Low-level call: the code check is done above, and a failure is wrapped with its reason.
        (bool ok, bytes memory reason) =
            receiver.call(abi.encodeCall(IMessageReceiver.onMessage, (id, srcChainId, sender, payload)));
        if (!ok) revert ReceiverFailed(id, reason);
        emit MessageDelivered(id, srcChainId, receiver);
    }

    // ---- configuration (admin) and pause (guardian) ----------------------------------------

    /// @notice Create or change the route to `chainId`: its endpoint and its header oracle.
    function setRoute(uint256 chainId, address remoteEndpoint, IHeaderOracle oracle)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (remoteEndpoint == address(0) || address(oracle) == address(0)) revert ZeroAddress();
        Route storage r = _routes[chainId];
        if (r.remoteEndpoint == address(0)) {
            _routeIds.push(chainId);
            if (paused) r.pauseFlags = ALL_PAUSED;
        }
        r.remoteEndpoint = remoteEndpoint;
        r.oracle = oracle;
        emit RouteSet(chainId, remoteEndpoint, address(oracle));
    }

    /// @notice Pause every route (one write per configured route: routes are few).
    function pause() external onlyRole(PAUSER_ROLE) {
        if (paused) revert Paused();
        paused = true;
        _setAllPaused(true);
        emit PauseSet(true);
    }

    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!paused) revert NotPaused();
        paused = false;
        _setAllPaused(false);
        emit PauseSet(false);
    }

    function pauseRoute(uint256 chainId) external onlyRole(PAUSER_ROLE) {
        _setRoutePaused(chainId, true);
    }

    function unpauseRoute(uint256 chainId) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setRoutePaused(chainId, false);
    }

    // ---- views -----------------------------------------------------------------------------

    /// @notice The route to `chainId`; `paused_` is its own pause (see `paused` for the global one).
    function route(uint256 chainId) external view returns (address remoteEndpoint, address oracle, bool paused_) {
        Route storage r = _routes[chainId];
        return (r.remoteEndpoint, address(r.oracle), r.pauseFlags & ROUTE_PAUSED != 0);
    }

    /// @notice Chain ids of every route ever configured.
    function routeIds() external view returns (uint256[] memory) {
        return _routeIds;
    }

    // ---- internals -------------------------------------------------------------------------

    function _messageId(
        uint256 srcChainId,
        address srcEndpoint,
        uint64 nonce,
        uint256 dstChainId,
        address dstEndpoint,
        address sender,
        address receiver,
        bytes32 payloadHash
    ) private pure returns (bytes32) {
        return keccak256(
            abi.encode(srcChainId, srcEndpoint, nonce, dstChainId, dstEndpoint, sender, receiver, payloadHash)
        );
    }

    function _openRoute(uint256 chainId) private view returns (Route storage r) {
        r = _routes[chainId];
        if (r.remoteEndpoint == address(0)) revert UnknownRoute(chainId);
        uint8 flags = r.pauseFlags;
        if (flags != 0) {
            if (flags & ALL_PAUSED != 0) revert Paused();
            revert RoutePaused(chainId);
        }
    }

    function _setAllPaused(bool on) private {
        uint256 n = _routeIds.length;
        for (uint256 i; i < n; ++i) {
            Route storage r = _routes[_routeIds[i]];
            r.pauseFlags = on ? r.pauseFlags | ALL_PAUSED : r.pauseFlags & ~ALL_PAUSED;
        }
    }

    function _setRoutePaused(uint256 chainId, bool on) private {
        Route storage r = _routes[chainId];
        if (r.remoteEndpoint == address(0)) revert UnknownRoute(chainId);
        r.pauseFlags = on ? r.pauseFlags | ROUTE_PAUSED : r.pauseFlags & ~ROUTE_PAUSED;
        emit RoutePauseSet(chainId, on);
    }

    /// @dev The payload of MessageSent data, abi.encode(uint64 nonce, address dstEndpoint,
    /// address sender, address receiver, bytes payload), after checking the encoding is
    /// canonical; a custom error instead of abi.decode's empty revert (the registered remote
    /// endpoint never emits malformed data: defence in depth). A calldata slice, no copy.
    function _sentPayload(bytes calldata data) private pure returns (bytes calldata) {
        if (data.length < 192) revert MalformedMessage();
        uint256 n = uint256(bytes32(data[0:32]));
        uint256 d = uint256(bytes32(data[32:64]));
        uint256 s = uint256(bytes32(data[64:96]));
        uint256 r = uint256(bytes32(data[96:128]));
        uint256 offset = uint256(bytes32(data[128:160]));
        uint256 len = uint256(bytes32(data[160:192]));
        if (
            n > type(uint64).max || (d | s | r) >> 160 != 0 || offset != 0xa0 || len > data.length - 192
                || data.length != 192 + ((len + 31) & ~uint256(31))
        ) revert MalformedMessage();
        return data[192:192 + len];
    }
}
