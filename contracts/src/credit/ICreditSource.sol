// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice None: never attested here. Expired: block.timestamp > validUntil. Revoked wins
/// over Expired.
enum CreditStatus {
    None,
    Valid,
    Expired,
    Revoked
}

/// @notice One subject's current credit attestation (the registry's, or its mirrored copy).
/// `version` grows by one with every attestation or revocation of the subject.
struct Attestation {
    uint16 score;
    uint64 version;
    uint64 issuedAt;
    uint64 validUntil;
    bool revoked;
    address issuer;
    bytes32 grade;
    bytes32 reportHash;
}

/// @notice What dApps read, on the consortium chain (CreditRegistry) and on public chains
/// (CreditMirror) alike.
interface ICreditSource {
    function creditOf(address subject)
        external
        view
        returns (uint16 score, bytes32 grade, address issuer, uint64 validUntil, CreditStatus status);

    function attestationOf(address subject) external view returns (Attestation memory);
}
