// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @notice OpenZeppelin's TimelockController, unchanged: one per chain, holding DEFAULT_ADMIN_ROLE
/// of every xgate contract there, so every admin change (routes, oracles, attesters,
/// thresholds, raised limits, unpause, light-client re-anchoring) is scheduled by a proposer,
/// visible for `getMinDelay()` seconds, then executed. Deployed with no timelock admin
/// (address(0)): the timelock administers itself, so its own delay and roles also change only
/// through itself. Declared here so the build writes an artifact for it.
contract XgateTimelock is TimelockController {
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors)
        TimelockController(minDelay, proposers, executors, address(0))
    {}
}
