// SPDX-License-Identifier: Apache-2.0
// Test-only: a contract claimer (like a smart wallet) whose receive() does real work (more than
// the 2,300-gas stipend of `transfer`) and tries to claim the same swap a second time while the
// first payout is in flight. The HTLC deletes the swap before paying, so the re-entry must fail.
pragma solidity 0.8.30;

interface IHtlcNativeClaim {
    function claim(bytes32 preimage, uint256 amount, address refunder, uint256 timelock) external;
}

contract HtlcReentrantClaimer {
    IHtlcNativeClaim public immutable htlc;
    bytes32 private preimage;
    uint256 private amount;
    address private refunder;
    uint256 private timelock;
    uint256 public received;
    uint256 public reentries;
    bytes public reentryError;
    bool public refuse;

    constructor(IHtlcNativeClaim htlc_) {
        htlc = htlc_;
    }

    /// Refuse every payment from now on (a recipient that cannot be paid).
    function setRefuse(bool on) external {
        refuse = on;
    }

    function claim(bytes32 preimage_, uint256 amount_, address refunder_, uint256 timelock_) external {
        (preimage, amount, refunder, timelock) = (preimage_, amount_, refunder_, timelock_);
        htlc.claim(preimage_, amount_, refunder_, timelock_);
    }

    error Refused();

    receive() external payable {
        if (refuse) revert Refused();
        received += msg.value;
        if (reentries == 0) {
            reentries = 1;
            try htlc.claim(preimage, amount, refunder, timelock) {
                reentries = 2; // a second payout: the test fails on this
            } catch (bytes memory err) {
                reentryError = err;
            }
        }
    }
}
