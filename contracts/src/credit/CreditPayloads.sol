// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AssetPayloads} from "../assets/AssetPayloads.sol";

/// @notice A credit attestation as it travels (flat, static: one exact length per kind).
struct CreditRecord {
    address subject;
    uint64 version;
    uint16 score;
    bytes32 grade;
    address issuer;
    uint64 issuedAt;
    uint64 validUntil;
    bytes32 reportHash;
}

/// @notice Bridge payloads of the credit flow, sharing the kind-tag space of AssetPayloads.
/// Mirrored byte for byte in gateway/domain/payloads.py.
///
///   kind 16 CREDIT_ATTESTATION (uint8, address subject, uint64 version, uint16 score, bytes32 grade,
///                               address issuer, uint64 issuedAt, uint64 validUntil, bytes32 reportHash)
///   kind 17 CREDIT_REVOCATION  (uint8, address subject, uint64 version, address issuer)
///
/// `grade` is printable ASCII (0x20-0x7e), left-aligned and zero-padded, at least one byte.
library CreditPayloads {
    uint8 internal constant CREDIT_ATTESTATION = 16;
    uint8 internal constant CREDIT_REVOCATION = 17;

    uint256 internal constant ATTESTATION_LENGTH = 9 * 32;
    uint256 internal constant REVOCATION_LENGTH = 4 * 32;

    uint16 internal constant MAX_SCORE = 1000;

    function encodeAttestation(CreditRecord memory r) internal pure returns (bytes memory) {
        return abi.encode(CREDIT_ATTESTATION, r);
    }

    function encodeRevocation(address subject, uint64 version, address issuer) internal pure returns (bytes memory) {
        return abi.encode(CREDIT_REVOCATION, subject, version, issuer);
    }

    function decodeAttestation(bytes calldata payload) internal pure returns (CreditRecord memory r) {
        if (payload.length != ATTESTATION_LENGTH) {
            revert AssetPayloads.MalformedPayload(CREDIT_ATTESTATION, payload.length);
        }
        (, r) = abi.decode(payload, (uint8, CreditRecord));
    }

    function decodeRevocation(bytes calldata payload)
        internal
        pure
        returns (address subject, uint64 version, address issuer)
    {
        if (payload.length != REVOCATION_LENGTH) {
            revert AssetPayloads.MalformedPayload(CREDIT_REVOCATION, payload.length);
        }
        (, subject, version, issuer) = abi.decode(payload, (uint8, address, uint64, address));
    }

    /// @notice Non-empty printable ASCII, then only zero bytes (one spelling per grade).
    function isCanonicalGrade(bytes32 grade) internal pure returns (bool) {
        if (grade[0] == 0) return false;
        bool ended = false;
        for (uint256 i = 0; i < 32; ++i) {
            bytes1 c = grade[i];
            if (c == 0) {
                ended = true;
            } else if (ended || c < 0x20 || c > 0x7e) {
                return false;
            }
        }
        return true;
    }
}
