// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IBridgeEndpoint} from "../interfaces/IBridgeEndpoint.sol";
import {AssetsEndpointClient} from "../assets/AssetsEndpointClient.sol";
import {AssetPayloads} from "../assets/AssetPayloads.sol";
import {CreditPayloads, CreditRecord} from "./CreditPayloads.sol";
import {Attestation, CreditStatus, ICreditSource} from "./ICreditSource.sol";

/// @notice Read-only copy, on a public chain, of the consortium CreditRegistry: written only by
/// verified messages from the registry registered for the source chain (`setRemote`). Messages
/// may arrive out of order (anyone relays, any time): an update applies only when its version
/// is newer than the stored one. An older one is consumed without effect instead of reverting,
/// so the delivery completes and is not retried forever. Mirror one registry per mirror.
contract CreditMirror is AssetsEndpointClient, ICreditSource {
    mapping(address subject => Attestation) private _attestations;

    event CreditUpdated(address indexed subject, uint64 version, bool revoked, bytes32 messageId);
    event StaleCreditIgnored(address indexed subject, uint64 version, uint64 currentVersion, bytes32 messageId);

    error UnsupportedPayload(uint8 kind);

    constructor(IBridgeEndpoint endpoint_, address admin) AssetsEndpointClient(endpoint_, admin) {}

    /// @inheritdoc ICreditSource
    function creditOf(address subject)
        external
        view
        returns (uint16 score, bytes32 grade, address issuer, uint64 validUntil, CreditStatus status)
    {
        Attestation storage a = _attestations[subject];
        CreditStatus s = CreditStatus.Valid;
        if (a.version == 0) s = CreditStatus.None;
        else if (a.revoked) s = CreditStatus.Revoked;
        else if (block.timestamp > a.validUntil) s = CreditStatus.Expired;
        return (a.score, a.grade, a.issuer, a.validUntil, s);
    }

    /// @inheritdoc ICreditSource
    function attestationOf(address subject) external view returns (Attestation memory) {
        return _attestations[subject];
    }

    function _handle(bytes32 id, uint256, bytes calldata payload) internal override {
        uint8 kind = AssetPayloads.kindOf(payload);
        if (kind == CreditPayloads.CREDIT_ATTESTATION) {
            CreditRecord memory r = CreditPayloads.decodeAttestation(payload);
            if (!_isNewer(r.subject, r.version, id)) return;
            _attestations[r.subject] =
                Attestation(r.score, r.version, r.issuedAt, r.validUntil, false, r.issuer, r.grade, r.reportHash);
            emit CreditUpdated(r.subject, r.version, false, id);
        } else if (kind == CreditPayloads.CREDIT_REVOCATION) {
            (address subject, uint64 version, address issuer) = CreditPayloads.decodeRevocation(payload);
            if (!_isNewer(subject, version, id)) return;
            // Keeps the revoked attestation's figures when this mirror saw them.
            Attestation storage a = _attestations[subject];
            a.version = version;
            a.revoked = true;
            a.issuer = issuer;
            emit CreditUpdated(subject, version, true, id);
        } else {
            revert UnsupportedPayload(kind);
        }
    }

    function _isNewer(address subject, uint64 version, bytes32 id) private returns (bool) {
        uint64 current = _attestations[subject].version;
        if (version > current) return true;
        emit StaleCreditIgnored(subject, version, current, id);
        return false;
    }
}
