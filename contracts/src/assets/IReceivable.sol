// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice The financing metadata of a tokenized receivable. It travels with the asset: the
/// wrapped receivable on a public chain keeps exactly what the home `Receivable` recorded.
/// `currency` is an ISO 4217 alphabetic code ("CNY", "USD"): a receivable is a legal claim in a
/// fiat currency, and a token address would mean nothing on the other chain.
/// `faceValue` is in the currency's minor unit (cents, fen).
struct Financing {
    address debtor;
    address creditor;
    uint128 faceValue;
    bytes3 currency;
    uint64 dueDate;
    bytes32 documentHash;
}

/// @notice Anything that exposes receivable financing metadata per token id (the home
/// `Receivable` and the foreign `WrappedReceivable`). Detected through ERC-165.
interface IReceivable {
    function financingOf(uint256 tokenId) external view returns (Financing memory);
}

/// @notice A wrapped asset on a foreign chain, minted and burnt only by its gateway.
interface IWrappedAsset {
    /// @notice 1 = ERC-20, 2 = ERC-721 (the same values as the transfer payload kinds).
    function assetKind() external view returns (uint8);
    function gateway() external view returns (address);
    function homeChainId() external view returns (uint256);
    function homeToken() external view returns (address);
}

/// @notice A receivable whose transfer can carry a financing record: the home `Receivable`
/// keeps it (`financingRecord`), the foreign `WrappedReceivable` emits it. The caller is the
/// holder or approved, as for `transferFrom`; `advance` is in the currency's minor units.
interface IFinanceable {
    function assignWithFinancing(address to, uint256 tokenId, uint128 advance, uint16 discountBps) external;
}
