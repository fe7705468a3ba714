// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IBridgeEndpoint} from "../interfaces/IBridgeEndpoint.sol";
import {AssetsEndpointClient} from "../assets/AssetsEndpointClient.sol";
import {AssetPayloads} from "../assets/AssetPayloads.sol";
import {CreditPayloads, CreditRecord} from "./CreditPayloads.sol";
import {Attestation, CreditStatus, ICreditSource} from "./ICreditSource.sol";

/// @notice Read-only copy, on a public chain, of a consortium CreditRegistry: written only by
/// verified messages from the registry registered for the source chain (`setRemote`). Messages
/// may arrive out of order (anyone relays, any time): an update applies only when its version
/// is newer than the stored one. An older one is consumed without effect instead of reverting,
/// so the delivery completes and is not retried forever.
///
/// Records are kept per source: (source chain, registry, subject). Versions are only comparable
/// within one registry, so a second source (another chain's registry) or a replacement
/// registry (`setRemote` on the same chain) starts its own version line and can neither
/// overwrite nor shadow (make look stale) the current registry's records. `creditOf` and
/// `attestationOf` read the current source: the registry now registered for `sourceChainId`.
/// `sourceChainId` is set by the admin (`setSourceChain`) or, while unset, by the first
/// verified message (a mirror wired to one registry needs no extra call). After a registry
/// replacement, `creditOf` shows only what the new registry published; the old records stay
/// readable with `creditFrom`/`attestationFrom`.
contract CreditMirror is AssetsEndpointClient, ICreditSource {
    mapping(uint256 srcChainId => mapping(address registry => mapping(address subject => Attestation))) private
        _attestations;

    /// @notice The chain whose registered registry `creditOf` answers for (0: none yet).
    uint256 public sourceChainId;

    event SourceChainSet(uint256 indexed chainId);
    event CreditUpdated(
        address indexed subject, uint64 version, bool revoked, bytes32 messageId, uint256 srcChainId, address registry
    );
    event StaleCreditIgnored(
        address indexed subject,
        uint64 version,
        uint64 currentVersion,
        bytes32 messageId,
        uint256 srcChainId,
        address registry
    );

    error UnsupportedPayload(uint8 kind);

    constructor(IBridgeEndpoint endpoint_, address admin) AssetsEndpointClient(endpoint_, admin) {}

    /// @notice Answer `creditOf` from the registry registered for `chainId`.
    function setSourceChain(uint256 chainId) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (remoteOf[chainId] == address(0)) revert NoRemote(chainId);
        sourceChainId = chainId;
        emit SourceChainSet(chainId);
    }

    /// @inheritdoc ICreditSource
    function creditOf(address subject)
        external
        view
        returns (uint16 score, bytes32 grade, address issuer, uint64 validUntil, CreditStatus status)
    {
        uint256 src = sourceChainId;
        return _credit(_attestations[src][remoteOf[src]][subject]);
    }

    /// @inheritdoc ICreditSource
    function attestationOf(address subject) external view returns (Attestation memory) {
        uint256 src = sourceChainId;
        return _attestations[src][remoteOf[src]][subject];
    }

    /// @notice `creditOf` as mirrored from `registry` on `srcChainId` (current or former source).
    function creditFrom(uint256 srcChainId, address registry, address subject)
        external
        view
        returns (uint16 score, bytes32 grade, address issuer, uint64 validUntil, CreditStatus status)
    {
        return _credit(_attestations[srcChainId][registry][subject]);
    }

    /// @notice `attestationOf` as mirrored from `registry` on `srcChainId`.
    function attestationFrom(uint256 srcChainId, address registry, address subject)
        external
        view
        returns (Attestation memory)
    {
        return _attestations[srcChainId][registry][subject];
    }

    function _credit(Attestation storage a)
        private
        view
        returns (uint16, bytes32, address, uint64, CreditStatus)
    {
        CreditStatus s = CreditStatus.Valid;
        if (a.version == 0) s = CreditStatus.None;
        else if (a.revoked) s = CreditStatus.Revoked;
        else if (block.timestamp > a.validUntil) s = CreditStatus.Expired;
        return (a.score, a.grade, a.issuer, a.validUntil, s);
    }

    function _handle(bytes32 id, uint256 srcChainId, bytes calldata payload) internal override {
        if (sourceChainId == 0) {
            sourceChainId = srcChainId;
            emit SourceChainSet(srcChainId);
        }
        // onMessage checked that the sender is the registry registered for srcChainId.
        address registry = remoteOf[srcChainId];
        mapping(address => Attestation) storage records = _attestations[srcChainId][registry];
        uint8 kind = AssetPayloads.kindOf(payload);
        if (kind == CreditPayloads.CREDIT_ATTESTATION) {
            CreditRecord memory r = CreditPayloads.decodeAttestation(payload);
            Attestation storage a = records[r.subject];
            if (!_isNewer(a, r.subject, r.version, id, srcChainId, registry)) return;
            records[r.subject] =
                Attestation(r.score, r.version, r.issuedAt, r.validUntil, false, r.issuer, r.grade, r.reportHash);
            emit CreditUpdated(r.subject, r.version, false, id, srcChainId, registry);
        } else if (kind == CreditPayloads.CREDIT_REVOCATION) {
            (address subject, uint64 version, address issuer) = CreditPayloads.decodeRevocation(payload);
            Attestation storage a = records[subject];
            if (!_isNewer(a, subject, version, id, srcChainId, registry)) return;
            // Keeps the revoked attestation's figures when this mirror saw them (a revocation
            // is always one version after the attestation it revokes); otherwise the stored
            // figures are an older attestation's, maybe another issuer's: show none.
            if (a.version + 1 != version) delete records[subject];
            a.version = version;
            a.revoked = true;
            a.issuer = issuer;
            emit CreditUpdated(subject, version, true, id, srcChainId, registry);
        } else {
            revert UnsupportedPayload(kind);
        }
    }

    function _isNewer(
        Attestation storage a,
        address subject,
        uint64 version,
        bytes32 id,
        uint256 srcChainId,
        address registry
    ) private returns (bool) {
        uint64 current = a.version;
        if (version > current) return true;
        emit StaleCreditIgnored(subject, version, current, id, srcChainId, registry);
        return false;
    }
}
