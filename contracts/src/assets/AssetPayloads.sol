// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Financing} from "./IReceivable.sol";

/// @notice One leg of an asset move. For a transfer (home -> foreign) `token` is the home
/// token, `recipient` the receiver on the foreign chain; for a release (foreign -> home) the
/// recipient on the home chain. `value` is the amount (ERC-20) or the token id (ERC-721).
struct AssetMove {
    address token;
    uint256 homeChainId;
    address recipient;
    uint256 value;
}

/// @notice A payment for a bridged-out receivable, in either direction between the home vault
/// and the gateway of the chain the receivable is locked to. `receivable` and `token` (the
/// currency's settlement token) are home-chain addresses; `amount` is in the settlement
/// token's base units, `totalPaid` the receivable's total paid at home (minor units) after it,
/// `settled` whether this payment settled the receivable at home (its state is Settled after
/// it): the home chain knows, a private copy abroad does not (it has no face value).
struct ReceivablePayment {
    address receivable;
    uint256 homeChainId;
    uint256 tokenId;
    address token;
    uint256 amount;
    uint128 totalPaid;
    bool settled;
}

/// @notice Bridge payloads of the asset flow: `abi.encode(uint8 kind, ...)`, every field static,
/// so each kind has one exact length. Mirrored byte for byte in gateway/domain/payloads.py
/// (tests/vectors/asset_payloads.json proves it).
///
///   kind 1 ERC20_TRANSFER   (uint8, address token, uint256 homeChainId, address recipient, uint256 amount)
///   kind 2 ERC721_TRANSFER  (uint8, address token, uint256 homeChainId, address recipient, uint256 tokenId,
///                            address debtor, address creditor, uint128 faceValue, bytes3 currency,
///                            uint64 dueDate, bytes32 documentHash)
///   kind 3 ERC20_RELEASE    (uint8, address token, uint256 homeChainId, address recipient, uint256 amount)
///   kind 4 ERC721_RELEASE   (uint8, address token, uint256 homeChainId, address recipient, uint256 tokenId)
///   kind 5 RECEIVABLE_PAYMENT (uint8, address receivable, uint256 homeChainId, uint256 tokenId,
///                            address token, uint256 amount, uint128 totalPaid, bool settled)
///          vault -> gateway: pay the wrapped receivable's holder; gateway -> vault: the wrapped
///          copy had gone home, pay the home holder (docs/architecture.md, "Settlement").
///          `settled` (word 0 or 1: any other value fails to decode) travels unchanged both ways.
///   kind 6 ERC721_PRIVATE_TRANSFER (uint8, address token, uint256 homeChainId, address recipient,
///                            uint256 tokenId, bytes32 commitment)
///          a receivable sent over a route with private terms: `commitment` = `termsCommitment`
///          (salt, financing) instead of the financing metadata (docs/architecture.md,
///          "Private terms on public chains").
library AssetPayloads {
    uint8 internal constant ERC20_TRANSFER = 1;
    uint8 internal constant ERC721_TRANSFER = 2;
    uint8 internal constant ERC20_RELEASE = 3;
    uint8 internal constant ERC721_RELEASE = 4;
    uint8 internal constant RECEIVABLE_PAYMENT = 5;
    uint8 internal constant ERC721_PRIVATE_TRANSFER = 6;

    uint256 internal constant MOVE_LENGTH = 5 * 32;
    uint256 internal constant ERC721_TRANSFER_LENGTH = 11 * 32;
    uint256 internal constant PAYMENT_LENGTH = 8 * 32;
    uint256 internal constant ERC721_PRIVATE_TRANSFER_LENGTH = 6 * 32;

    /// @dev The payload is too short for a kind tag, its tag word is not a uint8, or its length
    /// is not the exact length of its kind.
    error MalformedPayload(uint256 kind, uint256 length);

    /// @notice The kind tag of any xgate payload (asset or credit); reverts when unreadable.
    function kindOf(bytes calldata payload) internal pure returns (uint8) {
        if (payload.length < 32) revert MalformedPayload(0, payload.length);
        uint256 word = uint256(bytes32(payload[:32]));
        if (word > type(uint8).max) revert MalformedPayload(word, payload.length);
        return uint8(word);
    }

    function encodeMove(uint8 kind, AssetMove memory m) internal pure returns (bytes memory) {
        return abi.encode(kind, m);
    }

    function encodeErc721Transfer(AssetMove memory m, Financing memory f) internal pure returns (bytes memory) {
        return abi.encode(ERC721_TRANSFER, m, f);
    }

    /// @notice Decode kinds 1, 3 and 4 (same layout); the caller has checked the kind.
    function decodeMove(uint8 kind, bytes calldata payload) internal pure returns (AssetMove memory m) {
        if (payload.length != MOVE_LENGTH) revert MalformedPayload(kind, payload.length);
        (, m) = abi.decode(payload, (uint8, AssetMove));
    }

    function decodeErc721Transfer(bytes calldata payload)
        internal
        pure
        returns (AssetMove memory m, Financing memory f)
    {
        if (payload.length != ERC721_TRANSFER_LENGTH) revert MalformedPayload(ERC721_TRANSFER, payload.length);
        (, m, f) = abi.decode(payload, (uint8, AssetMove, Financing));
    }

    /// @notice The commitment to a receivable's terms that a private copy carries:
    /// keccak256(abi.encode(salt, debtor, creditor, faceValue, currency, dueDate, documentHash)),
    /// i.e. all six financing fields (7 words, each left/right padded as abi.encode does).
    /// `salt` is the locker's secret 32 bytes (never zero); without it the terms cannot be
    /// confirmed by guessing, with it anyone can check a disclosure.
    function termsCommitment(bytes32 salt, Financing memory f) internal pure returns (bytes32) {
        return keccak256(abi.encode(salt, f));
    }

    function encodeErc721PrivateTransfer(AssetMove memory m, bytes32 commitment)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encode(ERC721_PRIVATE_TRANSFER, m, commitment);
    }

    function decodeErc721PrivateTransfer(bytes calldata payload)
        internal
        pure
        returns (AssetMove memory m, bytes32 commitment)
    {
        if (payload.length != ERC721_PRIVATE_TRANSFER_LENGTH) {
            revert MalformedPayload(ERC721_PRIVATE_TRANSFER, payload.length);
        }
        (, m, commitment) = abi.decode(payload, (uint8, AssetMove, bytes32));
    }

    function encodePayment(ReceivablePayment memory p) internal pure returns (bytes memory) {
        return abi.encode(RECEIVABLE_PAYMENT, p);
    }

    function decodePayment(bytes calldata payload) internal pure returns (ReceivablePayment memory p) {
        if (payload.length != PAYMENT_LENGTH) revert MalformedPayload(RECEIVABLE_PAYMENT, payload.length);
        (, p) = abi.decode(payload, (uint8, ReceivablePayment));
    }
}
