// SPDX-License-Identifier: Apache-2.0
// Test-only: exposes HtlcBase's internal sha256 hashlock (the precompile staticcall) so a test
// can run it at the call-depth limit (HtlcDeepCaller) and see what it answers when the
// precompile call fails.
pragma solidity 0.8.30;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {HtlcBase} from "../htlc/HtlcBase.sol";

contract HtlcHashHarness is HtlcBase {
    constructor() EIP712("xgate HtlcHashHarness", "1") {}

    function hashlockOf(bytes32 preimage) external view returns (bytes32) {
        return _hashlock(preimage);
    }
}
