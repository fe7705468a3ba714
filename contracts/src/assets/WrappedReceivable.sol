// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {Financing, IReceivable, IWrappedAsset} from "./IReceivable.sol";

/// @notice A home-chain `Receivable` on a foreign chain: same token id, same financing metadata
/// (debtor, creditor, face value, currency, due date, document hash), so investors here see
/// exactly what was tokenized at home. Minted and burnt only by its gateway.
contract WrappedReceivable is ERC721, IReceivable, IWrappedAsset {
    address public immutable gateway;
    uint256 public immutable homeChainId;
    address public immutable homeToken;

    mapping(uint256 tokenId => Financing) private _financing;

    error NotGateway(address caller);
    error InvalidHome();
    error UnknownReceivable(uint256 tokenId);

    constructor(string memory name_, string memory symbol_, address gateway_, uint256 homeChainId_, address homeToken_)
        ERC721(name_, symbol_)
    {
        if (gateway_ == address(0) || homeChainId_ == 0 || homeToken_ == address(0)) revert InvalidHome();
        gateway = gateway_;
        homeChainId = homeChainId_;
        homeToken = homeToken_;
    }

    modifier onlyGateway() {
        if (msg.sender != gateway) revert NotGateway(msg.sender);
        _;
    }

    /// @dev `_mint`, not `_safeMint`: a recipient contract must not be able to make the
    /// delivery revert (the asset would stay locked at home).
    function mint(address to, uint256 tokenId, Financing calldata f) external onlyGateway {
        _financing[tokenId] = f;
        _mint(to, tokenId);
    }

    /// @notice Burn `tokenId` on behalf of `spender`, who must be its owner or approved.
    function burn(address spender, uint256 tokenId) external onlyGateway returns (address owner) {
        owner = _update(address(0), tokenId, spender);
        delete _financing[tokenId];
    }

    /// @inheritdoc IReceivable
    function financingOf(uint256 tokenId) external view returns (Financing memory) {
        if (_ownerOf(tokenId) == address(0)) revert UnknownReceivable(tokenId);
        return _financing[tokenId];
    }

    function assetKind() external pure returns (uint8) {
        return 2;
    }

    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IReceivable).interfaceId || super.supportsInterface(interfaceId);
    }
}
