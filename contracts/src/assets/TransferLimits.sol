// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {AssetsEndpointClient} from "./AssetsEndpointClient.sol";

/// @notice The pause views of BridgeEndpoint that held transfers obey.
interface IEndpointPause {
    function paused() external view returns (bool);
    function route(uint256 chainId) external view returns (address remoteEndpoint, address oracle, bool paused_);
}

/// @notice Value limits of an asset bridge contract (AssetVault, WrappedAssetGateway): the
/// damage a compromised chain, light client or key can do is bounded per token and remote
/// chain, and never by message counts a stranger could consume (anyone may `send`; only value
/// moved by this contract is counted here).
///
/// One token bucket (CCIP token-pool shape: capacity + refill rate per second, refilled lazily)
/// per (local token, remote chain, direction). Units: token base units for ERC-20; one
/// ERC-721 token counts NFT_UNITS (1e6) units, so "20 receivables a day" is expressible
/// (capacity 20e6, rate 231). A receivable's face value is NOT counted: it is in the
/// receivable's own currency (mixed within one contract) and a plain ERC-721 has none; the
/// count bounds how many can move, and the guardian reviews delayed ones.
///
/// - Outbound (lock / burn): a transfer above what the bucket holds reverts (RateLimited),
///   as in CCIP; the user retries later or splits it. Outbound transfers are not delayed:
///   every outbound transfer is an inbound one on the other side, where the delay applies.
/// - Inbound (delivery: release / mint): a transfer larger than `delayAbove` (if set), or
///   above what the bucket holds, is HELD instead of refused (Wormhole governor): the delivery
///   succeeds, the message is spent, and the transfer is recorded with a ready time
///   (`holdDelay` later); anyone may `executeHeld` after that, unless the endpoint's route
///   from that chain (or the whole endpoint) is paused: the guardian's pause freezes held
///   transfers too, so one pause stops every value movement of a route while the guardian
///   cancels what it must (only the admin unpauses). Held transfers do not draw on
///   the bucket (they passed the delay and the guardian's review instead). A delivery never
///   reverts for a limit, so no message is stuck at the endpoint.
/// - The guardian (GUARDIAN_ROLE) may `cancelHeld` a pending transfer before it is executed.
///   A cancelled transfer is not lost: its value stays in this contract (vault) or unminted
///   (gateway), still accounted, and only the admin (the timelock in a deployment) can pay it
///   out with `releaseCancelled` to a recipient it names (the original one if the cancel was
///   a mistake, the victim if it was theft). Every step emits an event.
/// - Limits: the admin sets any configuration (`setLimit`, `setHoldDelay`); the guardian may
///   only tighten at once (`lowerLimit`: enabled, capacity and rate not higher, size threshold
///   not looser), since a tighter limit can only delay or refuse transfers, never lose value.
///   A disabled limit (the default) lets everything through at once.
abstract contract TransferLimits is AssetsEndpointClient, ReentrancyGuard {
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    uint256 public constant NFT_UNITS = 1e6;

    enum Direction {
        Inbound,
        Outbound
    }

    enum HoldState {
        None,
        Pending,
        Cancelled,
        Done
    }

    /// @notice A bucket's configuration. `delayAbove` applies to inbound transfers only
    /// (0: no size rule).
    struct LimitConfig {
        bool enabled;
        uint112 capacity;
        uint112 rate;
        uint112 delayAbove;
    }

    /// @dev Slot 0 is written by every limited transfer, slot 1 only read.
    struct Bucket {
        // slot 0
        uint112 tokens;
        uint32 updatedAt;
        uint112 rate;
        // slot 1
        uint112 capacity;
        uint112 delayAbove;
        bool enabled;
    }

    /// @notice A held inbound transfer: the hash of (srcChainId, payload) of its message, the
    /// time from which anyone may execute it, and its state. Keyed by the message id.
    struct Hold {
        bytes32 hash;
        uint64 readyAt;
        HoldState state;
    }

    /// @notice How long a held inbound transfer waits before anyone may execute it.
    uint32 public holdDelay = 1 days;
    mapping(bytes32 key => Bucket) private _buckets;
    mapping(bytes32 messageId => Hold) public holds;

    event LimitSet(
        address indexed token,
        uint256 indexed chainId,
        Direction direction,
        bool enabled,
        uint112 capacity,
        uint112 rate,
        uint112 delayAbove,
        address by
    );
    event HoldDelaySet(uint32 delay);
    event TransferHeld(bytes32 indexed messageId, uint256 srcChainId, uint64 readyAt, bytes payload);
    event HeldCancelled(bytes32 indexed messageId, address guardian);
    event HeldExecuted(bytes32 indexed messageId);
    event CancelledReleased(bytes32 indexed messageId, address to);

    error RateLimited(address token, uint256 chainId, uint256 requested, uint256 available);
    error NotTighter();
    error HoldNotFound(bytes32 messageId, HoldState state);
    error HoldNotReady(bytes32 messageId, uint64 readyAt);
    error HoldMismatch(bytes32 messageId);
    error HeldPaused(uint256 srcChainId);

    // -- configuration ----------------------------------------------------------------------

    /// @notice Set the bucket of (`token`, `chainId`, `direction`). Tokens already earned are
    /// kept (capped to the new capacity); enabling a disabled bucket starts it full.
    function setLimit(address token, uint256 chainId, Direction direction, LimitConfig calldata c)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _setLimit(token, chainId, direction, c);
    }

    /// @notice The guardian's immediate tightening: the result must be enabled, with capacity
    /// and rate not above the current ones and a size threshold not looser (when the bucket is
    /// disabled, any enabled configuration is tighter).
    function lowerLimit(address token, uint256 chainId, Direction direction, LimitConfig calldata c)
        external
        onlyRole(GUARDIAN_ROLE)
    {
        Bucket storage b = _buckets[_key(token, chainId, direction)];
        if (!c.enabled) revert NotTighter();
        if (
            b.enabled
                && (
                    c.capacity > b.capacity || c.rate > b.rate
                        || (b.delayAbove != 0 && (c.delayAbove == 0 || c.delayAbove > b.delayAbove))
                )
        ) revert NotTighter();
        _setLimit(token, chainId, direction, c);
    }

    function setHoldDelay(uint32 delay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        holdDelay = delay;
        emit HoldDelaySet(delay);
    }

    /// @notice A bucket's configuration and the units available now (max uint256 if disabled).
    function limit(address token, uint256 chainId, Direction direction)
        external
        view
        returns (LimitConfig memory config, uint256 available)
    {
        Bucket storage b = _buckets[_key(token, chainId, direction)];
        config = LimitConfig(b.enabled, b.capacity, b.rate, b.delayAbove);
        available = b.enabled ? _available(b) : type(uint256).max;
    }

    // -- held transfers -----------------------------------------------------------------------

    /// @notice Pay out a held inbound transfer once its delay is over. Anyone may call it with
    /// the message's source chain and payload (as in TransferHeld), except while the endpoint
    /// is paused for that chain (HeldPaused).
    function executeHeld(bytes32 messageId, uint256 srcChainId, bytes calldata payload) external nonReentrant {
        Hold storage h = _checkedHold(messageId, srcChainId, payload, HoldState.Pending);
        if (block.timestamp < h.readyAt) revert HoldNotReady(messageId, h.readyAt);
        IEndpointPause e = IEndpointPause(address(endpoint));
        (,, bool routePaused) = e.route(srcChainId);
        if (routePaused || e.paused()) revert HeldPaused(srcChainId);
        h.state = HoldState.Done;
        _payOut(messageId, srcChainId, payload, address(0));
        emit HeldExecuted(messageId);
    }

    /// @notice Guardian: stop a pending held transfer (see releaseCancelled for what follows).
    function cancelHeld(bytes32 messageId) external onlyRole(GUARDIAN_ROLE) {
        Hold storage h = holds[messageId];
        if (h.state != HoldState.Pending) revert HoldNotFound(messageId, h.state);
        h.state = HoldState.Cancelled;
        emit HeldCancelled(messageId, msg.sender);
    }

    /// @notice Admin (timelock): pay a cancelled transfer out to `to`.
    function releaseCancelled(bytes32 messageId, uint256 srcChainId, bytes calldata payload, address to)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        nonReentrant
    {
        if (to == address(0)) revert ZeroAddress();
        Hold storage h = _checkedHold(messageId, srcChainId, payload, HoldState.Cancelled);
        h.state = HoldState.Done;
        _payOut(messageId, srcChainId, payload, to);
        emit CancelledReleased(messageId, to);
    }

    // -- for the asset contracts ------------------------------------------------------------

    /// @dev Draw `value` from the outbound bucket or revert RateLimited.
    function _drawOutbound(address token, uint256 chainId, uint256 value) internal {
        Bucket storage b = _buckets[_key(token, chainId, Direction.Outbound)];
        if (!b.enabled) return;
        uint256 left = _available(b);
        if (value > left) revert RateLimited(token, chainId, value, left);
        (b.tokens, b.updatedAt) = (uint112(left - value), uint32(block.timestamp));
    }

    /// @dev True: pay out now (drawn from the bucket). False: the caller must `_hold` it.
    function _admitInbound(address token, uint256 chainId, uint256 value) internal returns (bool) {
        Bucket storage b = _buckets[_key(token, chainId, Direction.Inbound)];
        if (!b.enabled) return true;
        uint256 threshold = b.delayAbove;
        if (threshold != 0 && value > threshold) return false;
        uint256 left = _available(b);
        if (value > left) return false;
        (b.tokens, b.updatedAt) = (uint112(left - value), uint32(block.timestamp));
        return true;
    }

    function _hold(bytes32 messageId, uint256 srcChainId, bytes calldata payload) internal {
        uint64 readyAt = uint64(block.timestamp) + holdDelay;
        holds[messageId] = Hold(keccak256(abi.encode(srcChainId, payload)), readyAt, HoldState.Pending);
        emit TransferHeld(messageId, srcChainId, readyAt, payload);
    }

    /// @dev Pay out the (already validated and accounted) inbound transfer of `payload` to
    /// `to`, or to the payload's recipient when `to` is zero.
    function _payOut(bytes32 messageId, uint256 srcChainId, bytes calldata payload, address to) internal virtual;

    // -- internals ----------------------------------------------------------------------------

    function _setLimit(address token, uint256 chainId, Direction direction, LimitConfig calldata c) private {
        bytes32 key = _key(token, chainId, direction);
        Bucket storage b = _buckets[key];
        uint256 kept = c.capacity;
        if (b.enabled) {
            uint256 now_ = _available(b);
            if (now_ < kept) kept = now_;
        }
        _buckets[key] = Bucket(uint112(kept), uint32(block.timestamp), c.rate, c.capacity, c.delayAbove, c.enabled);
        emit LimitSet(token, chainId, direction, c.enabled, c.capacity, c.rate, c.delayAbove, msg.sender);
    }

    /// @dev Units `b` holds at `block.timestamp`: the refill since `updatedAt`, capped (CCIP's
    /// RateLimiter shape). tokens, capacity and rate < 2^112, updatedAt good until 2106, so
    /// nothing overflows. On chain updatedAt <= block.timestamp (written from it), but a node
    /// may simulate a call (eth_call, eth_estimateGas) at a time before the latest block's
    /// (anvil does under load): no refill then, rather than an underflow panic that would make
    /// a relayer park a deliverable message.
    function _available(Bucket storage b) private view returns (uint256) {
        // All four fields read before any arithmetic: one SLOAD per slot.
        (uint256 tokens, uint256 updatedAt, uint256 rate, uint256 capacity) = (b.tokens, b.updatedAt, b.rate, b.capacity);
        uint256 elapsed = block.timestamp > updatedAt ? block.timestamp - updatedAt : 0;
        uint256 refilled = tokens + elapsed * rate;
        return refilled < capacity ? refilled : capacity;
    }

    function _checkedHold(bytes32 messageId, uint256 srcChainId, bytes calldata payload, HoldState expected)
        private
        view
        returns (Hold storage h)
    {
        h = holds[messageId];
        if (h.state != expected) revert HoldNotFound(messageId, h.state);
        if (h.hash != keccak256(abi.encode(srcChainId, payload))) revert HoldMismatch(messageId);
    }

    function _key(address token, uint256 chainId, Direction direction) private pure returns (bytes32) {
        return keccak256(abi.encode(token, chainId, direction));
    }
}
