// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IBridgeEndpoint} from "../interfaces/IBridgeEndpoint.sol";
import {AssetsEndpointClient} from "../assets/AssetsEndpointClient.sol";
import {CreditPayloads, CreditRecord} from "./CreditPayloads.sol";
import {Attestation, CreditStatus, ICreditSource} from "./ICreditSource.sol";

/// @notice Credit attestations on the consortium chain. Authorised issuers (ISSUER_ROLE, the
/// rating members) attest a subject; the newest attestation is the subject's current one.
/// An issuer supersedes (attests over) or revokes only its own attestation while it is live;
/// once it is revoked or expired any issuer may attest the subject anew. The admin may revoke
/// any attestation (governance), but attests nothing without ISSUER_ROLE.
/// `publish` relays the current state (attestation or revocation) to the CreditMirror
/// registered for a destination chain; expiry needs no message (mirrors compute it).
///
/// Revocations fan out on chain: `revoke` itself sends the revocation through the bridge
/// endpoint to every mirror chain in `mirrorChains` (set by the admin), in the revoking
/// transaction. Chosen over a relayer duty ("watch Revoked, then call publish per chain")
/// because a revocation is the one update that must not depend on a PUBLISHER_ROLE account
/// being alive, funded and allowlisted: once the revoke is mined its MessageSent logs exist,
/// and delivering them needs only a receipt proof, which anyone may relay. The cost is one
/// endpoint `send` per mirror chain for the revoker (mirror chains are few; at most
/// MAX_MIRROR_CHAINS). A send the endpoint refuses (route paused, rate limited, remote
/// removed) does not block the revocation here: it emits PublishFailed, and the state can be
/// sent again with `publish` once the route is open (that retry is the relayer's duty). A send
/// that ran out of gas reverts the whole revoke (FanOutOutOfGas), so a caller cannot skip the
/// fan-out by forwarding too little gas (1/64 rule). New attestations are not fanned out:
/// `publish` chooses where a rating goes.
contract CreditRegistry is AssetsEndpointClient, ICreditSource {
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    /// @notice May publish (e.g. a relayer/operator account) but not attest.
    bytes32 public constant PUBLISHER_ROLE = keccak256("PUBLISHER_ROLE");

    /// @notice Upper bound of `mirrorChains` (bounds the gas of a revoke).
    uint256 public constant MAX_MIRROR_CHAINS = 16;

    mapping(address subject => Attestation) private _attestations;
    uint256[] private _mirrorChains;

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
    /// @notice The fan-out of a revocation to `dstChainId` was refused by the endpoint (or the
    /// chain has no mirror any more); `publish` sends it again.
    event PublishFailed(address indexed subject, uint256 indexed dstChainId, uint64 version, bytes reason);
    event MirrorChainsSet(uint256[] chainIds);

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
    error TooManyMirrorChains(uint256 count);
    error DuplicateMirrorChain(uint256 chainId);
    error FanOutOutOfGas(uint256 dstChainId);

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
        Attestation storage current = _attestations[subject];
        // Superseding a live attestation is its issuer's call only (status Valid).
        if (
            current.issuer != msg.sender && current.version != 0 && !current.revoked
                && block.timestamp <= current.validUntil
        ) revert NotAttestationIssuer(msg.sender, current.issuer);
        version = current.version + 1;
        _attestations[subject] =
            Attestation(score, version, uint64(block.timestamp), validUntil, false, msg.sender, grade, reportHash);
        emit Attested(subject, msg.sender, version, score, grade, validUntil, reportHash);
    }

    /// @notice Revoke `subject`'s current attestation: its issuer or the admin may. Sends the
    /// revocation to every chain in `mirrorChains` (see the contract notes).
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
        uint256 n = _mirrorChains.length;
        if (n == 0) return version;
        bytes memory payload = CreditPayloads.encodeRevocation(subject, version, a.issuer);
        for (uint256 i; i < n; ++i) {
            _fanOut(subject, _mirrorChains[i], version, payload);
        }
    }

    /// @notice The chains every revocation is sent to (each must have a mirror: `setRemote`).
    function setMirrorChains(uint256[] calldata chainIds) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (chainIds.length > MAX_MIRROR_CHAINS) revert TooManyMirrorChains(chainIds.length);
        for (uint256 i; i < chainIds.length; ++i) {
            if (remoteOf[chainIds[i]] == address(0)) revert NoRemote(chainIds[i]);
            for (uint256 j; j < i; ++j) {
                if (chainIds[j] == chainIds[i]) revert DuplicateMirrorChain(chainIds[i]);
            }
        }
        _mirrorChains = chainIds;
        emit MirrorChainsSet(chainIds);
    }

    function mirrorChains() external view returns (uint256[] memory) {
        return _mirrorChains;
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

    /// @dev One revocation message to the mirror on `dstChainId`; a refusal is logged, not fatal.
    function _fanOut(address subject, uint256 dstChainId, uint64 version, bytes memory payload) private {
        address remote = remoteOf[dstChainId];
        if (remote == address(0)) {
            emit PublishFailed(subject, dstChainId, version, abi.encodeWithSelector(NoRemote.selector, dstChainId));
            return;
        }
        uint256 before = gasleft();
        try endpoint.send(dstChainId, remote, payload) returns (bytes32 id) {
            emit Published(subject, dstChainId, version, id);
        } catch (bytes memory reason) {
            // All forwarded gas gone: the caller starved the send, it was not refused.
            if (gasleft() <= before / 64) revert FanOutOutOfGas(dstChainId);
            emit PublishFailed(subject, dstChainId, version, reason);
        }
    }

    /// @dev The registry only sends.
    function _handle(bytes32, uint256, bytes calldata) internal pure override {
        revert NotAReceiver();
    }
}
