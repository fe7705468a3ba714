// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IBridgeEndpoint} from "../interfaces/IBridgeEndpoint.sol";
import {AssetsEndpointClient} from "../assets/AssetsEndpointClient.sol";
import {CreditPayloads, CreditRecord} from "./CreditPayloads.sol";
import {Attestation, CreditStatus, ICreditSource} from "./ICreditSource.sol";

/// @notice Credit attestations on the consortium chain. Authorised issuers (ISSUER_ROLE, the
/// rating members) attest a subject; the newest attestation is the subject's current one.
/// `publish` relays the current state (attestation or revocation) to the CreditMirror
/// registered for a destination chain; expiry needs no message (mirrors compute it).
contract CreditRegistry is AssetsEndpointClient, ICreditSource {
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    /// @notice May publish (e.g. a relayer/operator account) but not attest.
    bytes32 public constant PUBLISHER_ROLE = keccak256("PUBLISHER_ROLE");

    mapping(address subject => Attestation) private _attestations;

    event Attested(
        address indexed subject,
        address indexed issuer,
        uint64 version,
        uint16 score,
        bytes32 grade,
        uint64 validUntil,
        bytes32 reportHash
    );
    event Revoked(address indexed subject, address indexed by, uint64 version);
    event Published(address indexed subject, uint256 indexed dstChainId, uint64 version, bytes32 messageId);

    error ZeroSubject();
    error ScoreOutOfRange(uint16 score);
    error InvalidGrade(bytes32 grade);
    error InvalidValidity(uint64 validUntil);
    error ZeroReportHash();
    error NoAttestation(address subject);
    error AlreadyRevoked(address subject);
    error NotAttestationIssuer(address caller, address issuer);
    error NotPublisher(address caller);
    error NotAReceiver();

    constructor(IBridgeEndpoint endpoint_, address admin) AssetsEndpointClient(endpoint_, admin) {}

    /// @notice Record `subject`'s new attestation (supersedes any earlier one, even revoked).
    function attest(address subject, uint16 score, bytes32 grade, uint64 validUntil, bytes32 reportHash)
        external
        onlyRole(ISSUER_ROLE)
        returns (uint64 version)
    {
        if (subject == address(0)) revert ZeroSubject();
        if (score > CreditPayloads.MAX_SCORE) revert ScoreOutOfRange(score);
        if (!CreditPayloads.isCanonicalGrade(grade)) revert InvalidGrade(grade);
        if (validUntil <= block.timestamp) revert InvalidValidity(validUntil);
        if (reportHash == bytes32(0)) revert ZeroReportHash();
        version = _attestations[subject].version + 1;
        _attestations[subject] =
            Attestation(score, version, uint64(block.timestamp), validUntil, false, msg.sender, grade, reportHash);
        emit Attested(subject, msg.sender, version, score, grade, validUntil, reportHash);
    }

    /// @notice Revoke `subject`'s current attestation: its issuer or the admin may.
    function revoke(address subject) external returns (uint64 version) {
        Attestation storage a = _attestations[subject];
        if (a.version == 0) revert NoAttestation(subject);
        if (a.revoked) revert AlreadyRevoked(subject);
        if (msg.sender != a.issuer && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            revert NotAttestationIssuer(msg.sender, a.issuer);
        }
        version = a.version + 1;
        a.version = version;
        a.revoked = true;
        emit Revoked(subject, msg.sender, version);
    }

    /// @notice Send `subject`'s current state to the mirror on `dstChainId`; returns the message id.
    function publish(address subject, uint256 dstChainId) external returns (bytes32 id) {
        if (!hasRole(ISSUER_ROLE, msg.sender) && !hasRole(PUBLISHER_ROLE, msg.sender)) revert NotPublisher(msg.sender);
        Attestation memory a = _attestations[subject];
        if (a.version == 0) revert NoAttestation(subject);
        bytes memory payload = a.revoked
            ? CreditPayloads.encodeRevocation(subject, a.version, a.issuer)
            : CreditPayloads.encodeAttestation(
                CreditRecord(subject, a.version, a.score, a.grade, a.issuer, a.issuedAt, a.validUntil, a.reportHash)
            );
        id = _send(dstChainId, payload);
        emit Published(subject, dstChainId, a.version, id);
    }

    /// @inheritdoc ICreditSource
    function creditOf(address subject)
        external
        view
        returns (uint16 score, bytes32 grade, address issuer, uint64 validUntil, CreditStatus status)
    {
        Attestation storage a = _attestations[subject];
        return (a.score, a.grade, a.issuer, a.validUntil, statusOf(a.version, a.revoked, a.validUntil));
    }

    /// @inheritdoc ICreditSource
    function attestationOf(address subject) external view returns (Attestation memory) {
        return _attestations[subject];
    }

    function statusOf(uint64 version, bool revoked, uint64 validUntil) internal view returns (CreditStatus) {
        if (version == 0) return CreditStatus.None;
        if (revoked) return CreditStatus.Revoked;
        if (block.timestamp > validUntil) return CreditStatus.Expired;
        return CreditStatus.Valid;
    }

    /// @dev The registry only sends.
    function _handle(bytes32, uint256, bytes calldata) internal pure override {
        revert NotAReceiver();
    }
}
