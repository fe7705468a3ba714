// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice Token-bucket arithmetic (the shape of CCIP's RateLimiter: a capacity and a refill
/// rate per second, refilled lazily on use). Pure functions over unpacked fields, so the caller
/// packs a bucket into as few slots as it likes (TransferLimits: two per bucket).
///
/// Sizes used by TransferLimits: tokens/capacity/rate uint112, updatedAt uint32 (seconds,
/// good until 2106).
library BridgeRateLimiter {
    /// @dev Units available at `block.timestamp`: the refill since `updatedAt`, capped.
    function available(uint256 tokens, uint256 updatedAt, uint256 capacity, uint256 rate)
        internal
        view
        returns (uint256)
    {
        // updatedAt <= block.timestamp (written from it); tokens, capacity, rate < 2^112
        uint256 refilled = tokens + (block.timestamp - updatedAt) * rate;
        return refilled < capacity ? refilled : capacity;
    }
}
