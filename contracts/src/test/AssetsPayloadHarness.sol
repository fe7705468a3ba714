// SPDX-License-Identifier: Apache-2.0
// Test-only: exposes the payload libraries as views so the shared vectors can be checked
// against the Solidity encoders/decoders byte for byte.
pragma solidity 0.8.30;

import {AssetMove, AssetPayloads, ReceivablePayment} from "../assets/AssetPayloads.sol";
import {Financing} from "../assets/IReceivable.sol";
import {CreditPayloads, CreditRecord} from "../credit/CreditPayloads.sol";

contract AssetsPayloadHarness {
    error UnsupportedPayload(uint8 kind);

    /// @notice Decode any payload by its kind, as the receivers do; returns the kind.
    function decodeAny(bytes calldata payload) external pure returns (uint8 kind) {
        kind = AssetPayloads.kindOf(payload);
        if (kind == AssetPayloads.ERC20_TRANSFER || kind == AssetPayloads.ERC20_RELEASE || kind == AssetPayloads.ERC721_RELEASE) {
            AssetPayloads.decodeMove(kind, payload);
        } else if (kind == AssetPayloads.ERC721_TRANSFER) {
            AssetPayloads.decodeErc721Transfer(payload);
        } else if (kind == AssetPayloads.ERC721_PRIVATE_TRANSFER) {
            AssetPayloads.decodeErc721PrivateTransfer(payload);
        } else if (kind == AssetPayloads.RECEIVABLE_PAYMENT) {
            AssetPayloads.decodePayment(payload);
        } else if (kind == CreditPayloads.CREDIT_ATTESTATION) {
            CreditPayloads.decodeAttestation(payload);
        } else if (kind == CreditPayloads.CREDIT_REVOCATION) {
            CreditPayloads.decodeRevocation(payload);
        } else {
            revert UnsupportedPayload(kind);
        }
    }

    function kindOf(bytes calldata payload) external pure returns (uint8) {
        return AssetPayloads.kindOf(payload);
    }

    function encodeMove(uint8 kind, AssetMove calldata m) external pure returns (bytes memory) {
        return AssetPayloads.encodeMove(kind, m);
    }

    function decodeMove(bytes calldata payload) external pure returns (uint8 kind, AssetMove memory m) {
        kind = AssetPayloads.kindOf(payload);
        m = AssetPayloads.decodeMove(kind, payload);
    }

    function encodeErc721Transfer(AssetMove calldata m, Financing calldata f) external pure returns (bytes memory) {
        return AssetPayloads.encodeErc721Transfer(m, f);
    }

    function decodeErc721Transfer(bytes calldata payload)
        external
        pure
        returns (AssetMove memory m, Financing memory f)
    {
        return AssetPayloads.decodeErc721Transfer(payload);
    }

    function encodeErc721PrivateTransfer(AssetMove calldata m, bytes32 commitment)
        external
        pure
        returns (bytes memory)
    {
        return AssetPayloads.encodeErc721PrivateTransfer(m, commitment);
    }

    function decodeErc721PrivateTransfer(bytes calldata payload)
        external
        pure
        returns (AssetMove memory m, bytes32 commitment)
    {
        return AssetPayloads.decodeErc721PrivateTransfer(payload);
    }

    function termsCommitment(bytes32 salt, Financing calldata f) external pure returns (bytes32) {
        return AssetPayloads.termsCommitment(salt, f);
    }

    function encodePayment(ReceivablePayment calldata p) external pure returns (bytes memory) {
        return AssetPayloads.encodePayment(p);
    }

    function decodePayment(bytes calldata payload) external pure returns (ReceivablePayment memory) {
        return AssetPayloads.decodePayment(payload);
    }

    function encodeAttestation(CreditRecord calldata r) external pure returns (bytes memory) {
        return CreditPayloads.encodeAttestation(r);
    }

    function decodeAttestation(bytes calldata payload) external pure returns (CreditRecord memory) {
        return CreditPayloads.decodeAttestation(payload);
    }

    function encodeRevocation(address subject, uint64 version, address issuer) external pure returns (bytes memory) {
        return CreditPayloads.encodeRevocation(subject, version, issuer);
    }

    function decodeRevocation(bytes calldata payload)
        external
        pure
        returns (address subject, uint64 version, address issuer)
    {
        return CreditPayloads.decodeRevocation(payload);
    }

    function isCanonicalGrade(bytes32 grade) external pure returns (bool) {
        return CreditPayloads.isCanonicalGrade(grade);
    }
}
