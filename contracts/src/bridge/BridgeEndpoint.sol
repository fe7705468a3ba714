// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IBridgeEndpoint, IMessageReceiver} from "../interfaces/IBridgeEndpoint.sol";
import {IHeaderOracle} from "../interfaces/IHeaderOracle.sol";
import {ReceiptProof} from "../lib/ReceiptProof.sol";
import {BridgeRateLimiter} from "./BridgeRateLimiter.sol";

/// @title BridgeEndpoint: the cross-chain message endpoint, one per chain.
/// @notice `send` emits MessageSent; `deliver` accepts a message from a remote endpoint proven
/// by a receipt proof against a header its route's IHeaderOracle accepted (the QBFT light
/// client on public chains, the attested header store on the consortium chain). Anyone may
/// relay: the proof is the only thing trusted.
///
/// Routes are keyed by the remote chain id: the remote endpoint (the only emitter whose logs
/// are accepted from that chain) and the header oracle for that chain.
///
/// Rate limits: one token bucket per route and direction (outbound = `send` to that chain,
/// inbound = delivery from it), counted in micro-messages (1 message = MESSAGE_UNITS = 1e6), so
/// a capacity of 100e6 with rate 27_778 allows a burst of 100 messages and then 100 per hour
/// (capacity < 2^48 units = 281M messages, rate < 2^32 units/s = 4,294 messages/s). Buckets
/// are disabled (unlimited) until the admin sets them; a bucket being enabled starts full.
/// Value limits belong to the asset vaults, which know amounts.
///
/// Pause: PAUSER_ROLE (the guardian) pauses everything (`pause`) or one route (`pauseRoute`);
/// only the admin (DEFAULT_ADMIN_ROLE) unpauses. A paused route blocks send to and delivery
/// from that chain (RoutePaused); a global pause blocks every route (Paused).
///
/// A receiver that reverts makes the whole delivery revert (ReceiverFailed with its reason):
/// nothing is recorded, the message stays undelivered and anyone may deliver it again later
/// (e.g. once the receiver is fixed or unpaused). Delivery order is free: ids, not sequence
/// numbers, guard against replay, so one stuck message never blocks the others. A relayer
/// that gives too little gas for the receiver only makes its own transaction fail.
///
/// Relayers: the gas of a rate-limited send/delivery depends on block.timestamp (the refill),
/// so add a margin to eth_estimateGas.
contract BridgeEndpoint is IBridgeEndpoint, AccessControl {
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    uint256 public constant MESSAGE_UNITS = 1e6;

    uint8 private constant ROUTE_PAUSED = 1; // pauseRoute
    uint8 private constant ALL_PAUSED = 2; // pause: set on every route

    enum Direction {
        Inbound,
        Outbound
    }

    /// @dev Packed for delivery: slot 0 and slot 1 are all `deliver` reads of its route (the
    /// pause flags and the inbound bucket ride along), slot 0 and slot 2 all `send` reads.
    /// Hand-packed instead of OpenZeppelin Pausable + separate buckets: saves two cold SLOADs
    /// (4,200 gas) per delivery.
    struct Route {
        // slot 0
        address remoteEndpoint; // zero: no route
        uint8 pauseFlags;
        uint48 inTokens;
        uint32 inUpdatedAt;
        bool inEnabled;
        // slot 1
        IHeaderOracle oracle;
        uint48 inCapacity;
        uint32 inRate;
        // slot 2
        uint48 outTokens;
        uint32 outUpdatedAt;
        bool outEnabled;
        uint48 outCapacity;
        uint32 outRate;
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
    error MalformedMessage();
    error IdMismatch(bytes32 logId, bytes32 computed);
    error AlreadyDelivered(bytes32 id);
    error RateLimited(uint256 chainId, Direction direction, uint256 requested, uint256 available);
    error EmptyBatch();
    error ReceiverNotContract(address receiver);
    error ReceiverFailed(bytes32 id, bytes reason);

    event RouteSet(uint256 indexed chainId, address remoteEndpoint, address oracle);
    event RoutePauseSet(uint256 indexed chainId, bool paused);
    event PauseSet(bool paused);
    event RateLimitSet(uint256 indexed chainId, Direction direction, bool enabled, uint48 capacity, uint32 rate);

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
        Route storage r = _openRoute(dstChainId);
        if (r.outEnabled) {
            uint256 left = BridgeRateLimiter.available(r.outTokens, r.outUpdatedAt, r.outCapacity, r.outRate);
            if (left < MESSAGE_UNITS) revert RateLimited(dstChainId, Direction.Outbound, MESSAGE_UNITS, left);
            r.outTokens = uint48(left - MESSAGE_UNITS);
            r.outUpdatedAt = uint32(block.timestamp);
        }
        uint64 nonce = nextNonce++;
        id = _messageId(block.chainid, address(this), nonce, dstChainId, msg.sender, receiver, keccak256(payload));
        emit MessageSent(id, dstChainId, nonce, msg.sender, receiver, payload);
    }

    /// @notice The message id rule of IBridgeEndpoint (shared vectors check it against Python).
    function messageId(
        uint256 srcChainId,
        address srcEndpoint,
        uint64 nonce,
        uint256 dstChainId,
        address sender,
        address receiver,
        bytes calldata payload
    ) external pure returns (bytes32) {
        return _messageId(srcChainId, srcEndpoint, nonce, dstChainId, sender, receiver, keccak256(payload));
    }

    // ---- delivery --------------------------------------------------------------------------

    /// @notice Deliver the message in log `logIndex` (0-based within its receipt) of receipt
    /// `txIndex` of block `blockHash` of chain `srcChainId`, proven by `proof` (receipts-trie
    /// nodes, root to leaf, as eth_getProof lists them). Anyone may call it.
    function deliver(uint256 srcChainId, bytes32 blockHash, uint256 txIndex, bytes[] calldata proof, uint256 logIndex)
        external
        returns (bytes32 id)
    {
        (address remote, bytes32 root) = _inboundRoot(srcChainId, blockHash, 1);
        return _deliverOne(srcChainId, remote, root, txIndex, proof, logIndex);
    }

    /// @notice Deliver several messages from one block of `srcChainId` (one header lookup, one
    /// rate-limit update). All or nothing: any bad item reverts the batch.
    function deliverBatch(uint256 srcChainId, bytes32 blockHash, Delivery[] calldata items)
        external
        returns (bytes32[] memory ids)
    {
        if (items.length == 0) revert EmptyBatch();
        (address remote, bytes32 root) = _inboundRoot(srcChainId, blockHash, items.length);
        ids = new bytes32[](items.length);
        for (uint256 i; i < items.length; ++i) {
            Delivery calldata item = items[i];
            ids[i] = _deliverOne(srcChainId, remote, root, item.txIndex, item.proof, item.logIndex);
        }
    }

    /// @dev Route checks, inbound rate limit for `count` messages, and the accepted header's
    /// receiptsRoot (the oracle reverts UnknownHeader for a header it has not accepted).
    function _inboundRoot(uint256 srcChainId, bytes32 blockHash, uint256 count)
        private
        returns (address remote, bytes32 root)
    {
        Route storage r = _openRoute(srcChainId);
        if (r.inEnabled) {
            uint256 units = count * MESSAGE_UNITS;
            uint256 left = BridgeRateLimiter.available(r.inTokens, r.inUpdatedAt, r.inCapacity, r.inRate);
            if (left < units) revert RateLimited(srcChainId, Direction.Inbound, units, left);
            r.inTokens = uint48(left - units);
            r.inUpdatedAt = uint32(block.timestamp);
        }
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
    /// block: check it is a MessageSent for this chain whose id matches, then run it once.
    function _accept(uint256 srcChainId, address remoteEndpoint, bytes32[] memory topics, bytes calldata data)
        private
        returns (bytes32 id)
    {
        if (topics.length != 3 || topics[0] != IBridgeEndpoint.MessageSent.selector) revert NotMessageSent();
        if (uint256(topics[2]) != block.chainid) revert WrongDestination(uint256(topics[2]));
        bytes calldata payload = _sentPayload(data);
        // The data words are checked canonical, so hashing them as-is equals abi.encode of the
        // decoded (uint64 nonce, address sender, address receiver).
        id = keccak256(
            abi.encode(
                srcChainId,
                remoteEndpoint,
                bytes32(data[0:32]),
                block.chainid,
                bytes32(data[32:64]),
                bytes32(data[64:96]),
                keccak256(payload)
            )
        );
        if (id != topics[1]) revert IdMismatch(topics[1], id);
        if (delivered[id]) revert AlreadyDelivered(id);
        delivered[id] = true; // before the call: a re-entrant delivery of the same id fails
        address receiver = address(uint160(uint256(bytes32(data[64:96]))));
        if (receiver.code.length == 0) revert ReceiverNotContract(receiver);
        address sender = address(uint160(uint256(bytes32(data[32:64]))));
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

    /// @notice Set a bucket (units: MESSAGE_UNITS per message); `enabled = false` lifts the limit.
    /// Tokens already earned are kept (capped to the new capacity); enabling starts full.
    function setRateLimit(uint256 chainId, Direction direction, bool enabled, uint48 capacity, uint32 rate)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        Route storage r = _routes[chainId];
        if (r.remoteEndpoint == address(0)) revert UnknownRoute(chainId);
        uint48 tokens;
        if (direction == Direction.Inbound) {
            tokens = _keptTokens(r.inEnabled, r.inTokens, r.inUpdatedAt, r.inCapacity, r.inRate, capacity);
            (r.inEnabled, r.inCapacity, r.inRate, r.inTokens) = (enabled, capacity, rate, tokens);
            r.inUpdatedAt = uint32(block.timestamp);
        } else {
            tokens = _keptTokens(r.outEnabled, r.outTokens, r.outUpdatedAt, r.outCapacity, r.outRate, capacity);
            (r.outEnabled, r.outCapacity, r.outRate, r.outTokens) = (enabled, capacity, rate, tokens);
            r.outUpdatedAt = uint32(block.timestamp);
        }
        emit RateLimitSet(chainId, direction, enabled, capacity, rate);
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

    /// @notice A bucket's configuration and the units available now (max uint256 if disabled).
    function rateLimit(uint256 chainId, Direction direction)
        external
        view
        returns (bool enabled, uint48 capacity, uint32 rate, uint256 available)
    {
        Route storage r = _routes[chainId];
        uint256 tokens;
        uint256 updatedAt;
        if (direction == Direction.Inbound) {
            (enabled, capacity, rate, tokens, updatedAt) = (r.inEnabled, r.inCapacity, r.inRate, r.inTokens, r.inUpdatedAt);
        } else {
            (enabled, capacity, rate, tokens, updatedAt) =
                (r.outEnabled, r.outCapacity, r.outRate, r.outTokens, r.outUpdatedAt);
        }
        available = enabled ? BridgeRateLimiter.available(tokens, updatedAt, capacity, rate) : type(uint256).max;
    }

    // ---- internals -------------------------------------------------------------------------

    function _messageId(
        uint256 srcChainId,
        address srcEndpoint,
        uint64 nonce,
        uint256 dstChainId,
        address sender,
        address receiver,
        bytes32 payloadHash
    ) private pure returns (bytes32) {
        return keccak256(abi.encode(srcChainId, srcEndpoint, nonce, dstChainId, sender, receiver, payloadHash));
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

    function _keptTokens(
        bool wasEnabled,
        uint256 tokens,
        uint256 updatedAt,
        uint256 oldCapacity,
        uint256 rate,
        uint48 newCapacity
    ) private view returns (uint48) {
        if (!wasEnabled) return newCapacity;
        uint256 kept = BridgeRateLimiter.available(tokens, updatedAt, oldCapacity, rate);
        return kept < newCapacity ? uint48(kept) : newCapacity;
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

    /// @dev The payload of MessageSent data, abi.encode(uint64 nonce, address sender, address
    /// receiver, bytes payload), after checking the encoding is canonical; a custom error
    /// instead of abi.decode's empty revert (the registered remote endpoint never emits
    /// malformed data: defence in depth). A calldata slice, no copy.
    function _sentPayload(bytes calldata data) private pure returns (bytes calldata) {
        if (data.length < 160) revert MalformedMessage();
        uint256 n = uint256(bytes32(data[0:32]));
        uint256 s = uint256(bytes32(data[32:64]));
        uint256 r = uint256(bytes32(data[64:96]));
        uint256 offset = uint256(bytes32(data[96:128]));
        uint256 len = uint256(bytes32(data[128:160]));
        if (
            n > type(uint64).max || s >> 160 != 0 || r >> 160 != 0 || offset != 0x80 || len > data.length - 160
                || data.length != 160 + ((len + 31) & ~uint256(31))
        ) revert MalformedMessage();
        return data[160:160 + len];
    }
}
