// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {IWrappedAsset} from "./IReceivable.sol";

/// @notice A home-chain ERC-20 on a foreign chain. Only its gateway mints (on a verified
/// transfer message) and burns (when the holder bridges back); supply == locked at home.
contract WrappedERC20 is ERC20, ERC20Permit, IWrappedAsset {
    address public immutable gateway;
    uint256 public immutable homeChainId;
    address public immutable homeToken;
    uint8 private immutable _decimals;

    error NotGateway(address caller);
    error InvalidHome();

    constructor(
        string memory name_,
        string memory symbol_,
        uint8 decimals_,
        address gateway_,
        uint256 homeChainId_,
        address homeToken_
    ) ERC20(name_, symbol_) ERC20Permit(name_) {
        if (gateway_ == address(0) || homeChainId_ == 0 || homeToken_ == address(0)) revert InvalidHome();
        gateway = gateway_;
        homeChainId = homeChainId_;
        homeToken = homeToken_;
        _decimals = decimals_;
    }

    modifier onlyGateway() {
        if (msg.sender != gateway) revert NotGateway(msg.sender);
        _;
    }

    function mint(address to, uint256 amount) external onlyGateway {
        _mint(to, amount);
    }

    /// @notice Burn `from`'s tokens; the gateway passes the caller that is bridging back.
    function burn(address from, uint256 amount) external onlyGateway {
        _burn(from, amount);
    }

    function assetKind() external pure returns (uint8) {
        return 1;
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }
}
