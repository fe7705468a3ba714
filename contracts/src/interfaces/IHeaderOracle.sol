// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice A source of verified foreign block headers: the QBFT light client on public chains,
/// the attested header store on the consortium chain. The bridge endpoint trusts only this.
interface IHeaderOracle {
    /// @dev The header `blockHash` of chain `sourceChainId` has not been accepted.
    error UnknownHeader(uint256 sourceChainId, bytes32 blockHash);

    /// @notice receiptsRoot of an accepted header; reverts with UnknownHeader otherwise.
    function receiptsRootOf(uint256 sourceChainId, bytes32 blockHash) external view returns (bytes32);

    /// @notice stateRoot of an accepted header; reverts with UnknownHeader otherwise.
    function stateRootOf(uint256 sourceChainId, bytes32 blockHash) external view returns (bytes32);
}
