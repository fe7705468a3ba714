// SPDX-License-Identifier: Apache-2.0
// Test-only: exercises the contract-test fixtures (deploy, send, custom-error decoding, time).
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

contract SmokeToken is ERC20 {
    error TooMuch(uint256 asked);
    constructor() ERC20("Smoke", "SMK") { _mint(msg.sender, 1e24); }
    function limited(uint256 x) external pure returns (uint256) { if (x > 5) revert TooMuch(x); return x; }
}
