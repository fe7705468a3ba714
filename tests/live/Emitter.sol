// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// Test contract for the adapter behaviour suite (adapters/testing.py): emits an event and
/// stores a value that is read back through an EIP-1186 storage proof.
/// Build: see Emitter.bin.json (compiled by tests/live/build_emitter.sh, evmVersion london so it
/// runs on every devnet fork).
contract Emitter {
    event Ping(address indexed sender, uint256 indexed n, bytes data);

    uint256 public last; // storage slot 0

    function ping(uint256 n, bytes calldata data) external {
        last = n;
        emit Ping(msg.sender, n, data);
    }

    function fail() external pure {
        revert("Emitter: fail");
    }
}
