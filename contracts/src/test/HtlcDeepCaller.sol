// SPDX-License-Identifier: Apache-2.0
// Test-only: runs a call at a chosen EVM call depth. `run(levels, target, data)` calls itself
// `levels` times, then the innermost frame calls `target` with `data` (so `target` runs at depth
// levels + 1, the transaction's own frame being depth 0). At depth 1024 every CALL/STATICCALL a
// contract makes fails at once without consuming gas, precompiles included: the one failure of
// the sha256 precompile that can be produced on demand (HtlcBase._hashlock). Reaching that depth
// takes about (64/63)^1024 ~ 1e7 times the innermost frame's gas (the 1/64 rule), which a chain
// with a very large block gas limit (anvil here; Besu consortium genesis files often) allows.
// As the claimer of a native swap it also accepts payment.
pragma solidity 0.8.30;

contract HtlcDeepCaller {
    /// The innermost call's outcome: success flag and return or revert data.
    event Innermost(bool ok, bytes result);

    error InnerFailed(bytes reason);

    function run(uint256 levels, address target, bytes calldata data) external returns (bytes memory) {
        if (levels > 0) return this.run(levels - 1, target, data);
        (bool ok, bytes memory result) = target.call(data);
        if (!ok) revert InnerFailed(result);
        return result;
    }

    receive() external payable {}
}
