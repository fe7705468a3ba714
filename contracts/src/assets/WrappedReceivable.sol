// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {Financing, IReceivable, IWrappedAsset} from "./IReceivable.sol";

/// @notice A home-chain `Receivable` on a foreign chain: same token id, same financing metadata
/// (debtor, creditor, face value, currency, due date, document hash), so investors here see
/// exactly what was tokenized at home. Minted and burnt only by its gateway.
///
/// Payments made at home while the receivable is bridged out reach the holder here through
/// the gateway, which records them (`recordPayment`): `paymentOf` is the total paid at home as
/// of the last payment delivered here, and settled once that covers the face value. A settled
/// wrapped receivable stays transferable and can still be burnt back home. The financing data
/// is kept after a burn (invisible: `financingOf` needs an owner), so the gateway can tell a
/// copy that went home from one that has not arrived yet.
contract WrappedReceivable is ERC721, IReceivable, IWrappedAsset {
    address public immutable gateway;
    uint256 public immutable homeChainId;
    address public immutable homeToken;

    mapping(uint256 tokenId => Financing) private _financing;
    mapping(uint256 tokenId => uint128) private _paid;

    /// @notice A payment of `amount` settlement-token units reached `holder` (zero: it waits
    /// for the mint); `totalPaid` (minor units) is the receivable's total paid at home.
    event PaymentRecorded(uint256 indexed tokenId, address indexed holder, uint256 amount, uint128 totalPaid);
    event Settled(uint256 indexed tokenId, uint128 totalPaid);

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
    }

    /// @notice Gateway: record a payment delivered for `tokenId`. Returns its holder (zero when
    /// not minted) and whether it was here and went home (then nothing is recorded: the payment
    /// goes back). Totals only grow: payments may be delivered in any order.
    function recordPayment(uint256 tokenId, uint256 amount, uint128 totalPaid)
        external
        onlyGateway
        returns (address holder, bool gone)
    {
        holder = _ownerOf(tokenId);
        if (holder == address(0) && _financing[tokenId].debtor != address(0)) return (address(0), true);
        emit PaymentRecorded(tokenId, holder, amount, totalPaid);
        if (totalPaid > _paid[tokenId]) {
            _paid[tokenId] = totalPaid;
            if (holder != address(0) && totalPaid >= _financing[tokenId].faceValue) emit Settled(tokenId, totalPaid);
        }
    }

    /// @notice Gateway: the payments that waited for this token were forwarded at its mint;
    /// emits Settled if they settle it (only then is its face value known here).
    function arrived(uint256 tokenId) external onlyGateway {
        uint128 paid = _paid[tokenId];
        if (paid >= _financing[tokenId].faceValue) emit Settled(tokenId, paid);
    }

    /// @notice What was paid at home (minor units) as of the last payment delivered here, and
    /// whether that settles the face value (false while the receivable has not arrived).
    function paymentOf(uint256 tokenId) external view returns (uint128 paid, bool settled) {
        paid = _paid[tokenId];
        uint128 face = _financing[tokenId].faceValue;
        settled = face != 0 && paid >= face;
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
