// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IHeaderOracle} from "../interfaces/IHeaderOracle.sol";

/// @notice TEST ONLY. A header oracle where one trusted account posts roots directly, so the
/// endpoint's delivery path can be tested without a light client. Never deploy outside tests:
/// it verifies nothing.
contract BridgeTestHeaderOracle is IHeaderOracle {
    struct Roots {
        bytes32 receiptsRoot;
        bytes32 stateRoot;
    }

    address public immutable poster;
    mapping(uint256 chainId => mapping(bytes32 blockHash => Roots)) private _roots;

    error NotPoster(address caller);

    constructor() {
        poster = msg.sender;
    }

    function post(uint256 sourceChainId, bytes32 blockHash, bytes32 receiptsRoot, bytes32 stateRoot) external {
        if (msg.sender != poster) revert NotPoster(msg.sender);
        _roots[sourceChainId][blockHash] = Roots(receiptsRoot, stateRoot);
    }

    function receiptsRootOf(uint256 sourceChainId, bytes32 blockHash) external view returns (bytes32 root) {
        root = _roots[sourceChainId][blockHash].receiptsRoot;
        if (root == bytes32(0)) revert UnknownHeader(sourceChainId, blockHash);
    }

    function stateRootOf(uint256 sourceChainId, bytes32 blockHash) external view returns (bytes32 root) {
        root = _roots[sourceChainId][blockHash].stateRoot;
        if (root == bytes32(0)) revert UnknownHeader(sourceChainId, blockHash);
    }
}
