// SPDX-License-Identifier: Apache-2.0
// Test-only: a plain OpenZeppelin ERC-20 with EIP-2612 permit (the HTLC's ERC-20 and permit paths).
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

contract HtlcTestToken is ERC20, ERC20Permit {
    constructor() ERC20("Htlc Test Token", "HTT") ERC20Permit("Htlc Test Token") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
