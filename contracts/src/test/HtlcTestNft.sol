// SPDX-License-Identifier: Apache-2.0
// Test-only: a plain OpenZeppelin ERC-721 with open minting (the HTLC's ERC-721 path).
pragma solidity 0.8.30;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

contract HtlcTestNft is ERC721 {
    constructor() ERC721("Htlc Test Nft", "HTN") {}

    function mint(address to, uint256 tokenId) external {
        _mint(to, tokenId);
    }

    /// Mint straight into `to` through `_safeMint`: its onERC721Received sees `from` = 0.
    function safeMint(address to, uint256 tokenId, bytes calldata data) external {
        _safeMint(to, tokenId, data);
    }
}
