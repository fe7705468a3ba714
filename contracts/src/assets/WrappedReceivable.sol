// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {Financing, IFinanceable, IReceivable, IWrappedAsset} from "./IReceivable.sol";

/// @notice A home-chain `Receivable` on a foreign chain: same token id, same financing metadata
/// (debtor, creditor, face value, currency, due date, document hash), so investors here see
/// exactly what was tokenized at home. Minted and burnt only by its gateway.
///
/// Payments made at home while the receivable is bridged out reach the holder here through
/// the gateway, which records them (`recordPayment`): `paymentOf` is the highest total paid at
/// home among the payments delivered here, and settled once one of them settled the receivable
/// at home (the payment says so: the home chain knows, and a private copy has no face value to
/// compare with). A settled wrapped receivable stays transferable and can still be burnt back
/// home. The financing data is kept after a burn (invisible: `financingOf` needs an owner), so
/// the gateway can tell a copy that went home from one that has not arrived yet.
///
/// Private copies (minted by `mintPrivate`, from a route with private terms): only the
/// commitment to the terms is kept (`commitmentOf`, `isPrivate`); `financingOf` reverts with
/// `TermsArePrivate`. The holder discloses the terms and the salt off chain and anyone checks
/// them against `commitmentOf` (gateway/domain/disclosure.py). Payments are recorded and
/// settle it exactly as a copy with full terms (the settled flag comes with the payment).
/// Storage: a private copy is kept as a Financing with every field zero but `documentHash`,
/// which holds the commitment (a receivable always has a debtor, so the two never mix), so
/// each mint overwrites the other kind's data and a public mint costs nothing extra.
contract WrappedReceivable is ERC721, IReceivable, IFinanceable, IWrappedAsset {
    uint16 public constant MAX_BPS = 10_000;

    address public immutable gateway;
    uint256 public immutable homeChainId;
    address public immutable homeToken;

    /// @dev What the payments delivered here say, in one slot: the highest total paid at home
    /// (minor units) and whether one of them settled the receivable (sticky).
    struct Payment {
        uint128 paid;
        bool settled;
    }

    mapping(uint256 tokenId => Financing) private _financing;
    mapping(uint256 tokenId => Payment) private _payments;

    /// @notice A payment of `amount` settlement-token units reached `holder` (zero: it waits
    /// for the mint); `totalPaid` (minor units) is the receivable's total paid at home.
    event PaymentRecorded(uint256 indexed tokenId, address indexed holder, uint256 amount, uint128 totalPaid);
    event Settled(uint256 indexed tokenId, uint128 totalPaid);
    /// @notice `financier` financed the copy: it advanced `advance` (minor units) at `discountBps`.
    event Financed(
        uint256 indexed tokenId,
        address indexed from,
        address indexed financier,
        uint128 advance,
        uint16 discountBps,
        uint64 timestamp
    );

    error NotGateway(address caller);
    error InvalidHome();
    error UnknownReceivable(uint256 tokenId);
    /// @dev The copy carries only a commitment to its terms (`commitmentOf`).
    error TermsArePrivate(uint256 tokenId, bytes32 commitment);
    error BadDiscount(uint16 discountBps);
    error ReceivableIsSettled(uint256 tokenId);

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

    /// @notice Gateway: mint a private copy that keeps only `commitment` to its terms.
    function mintPrivate(address to, uint256 tokenId, bytes32 commitment) external onlyGateway {
        Financing storage f = _financing[tokenId];
        if (f.debtor != address(0)) delete _financing[tokenId]; // it was here with full terms before
        f.documentHash = commitment;
        _mint(to, tokenId);
    }

    /// @notice Burn `tokenId` on behalf of `spender`, who must be its owner or approved.
    function burn(address spender, uint256 tokenId) external onlyGateway returns (address owner) {
        owner = _update(address(0), tokenId, spender);
    }

    /// @notice Gateway: record a payment delivered for `tokenId`; `settled`: it settled the
    /// receivable at home. Returns its holder (zero when not minted) and whether it was here and
    /// went home (then nothing is recorded: the payment goes back). Payments may be delivered in
    /// any order: the total only grows and settled, once set, stays. `Settled` is emitted once,
    /// when the flag is first set with a holder here (else by `arrived`, at the mint).
    function recordPayment(uint256 tokenId, uint256 amount, uint128 totalPaid, bool settled)
        external
        onlyGateway
        returns (address holder, bool gone)
    {
        holder = _ownerOf(tokenId);
        Financing storage f = _financing[tokenId];
        if (holder == address(0) && (f.debtor != address(0) || f.documentHash != 0)) return (address(0), true);
        emit PaymentRecorded(tokenId, holder, amount, totalPaid);
        Payment memory p = _payments[tokenId];
        bool settles = settled && !p.settled;
        if (totalPaid > p.paid || settles) {
            if (totalPaid > p.paid) p.paid = totalPaid;
            if (settles) p.settled = true;
            _payments[tokenId] = p;
            if (settles && holder != address(0)) emit Settled(tokenId, p.paid);
        }
    }

    /// @notice Gateway: the payments that waited for this token were forwarded at its mint;
    /// emits Settled if one of them settled it.
    function arrived(uint256 tokenId) external onlyGateway {
        Payment storage p = _payments[tokenId];
        if (p.settled) emit Settled(tokenId, p.paid);
    }

    /// @notice The highest total paid at home (minor units) among the payments delivered here,
    /// and whether one of them settled the receivable at home (copies with full or private
    /// terms alike; a payment waiting for the mint counts).
    function paymentOf(uint256 tokenId) external view returns (uint128 paid, bool settled) {
        Payment storage p = _payments[tokenId];
        (paid, settled) = (p.paid, p.settled);
    }

    /// @inheritdoc IReceivable
    function financingOf(uint256 tokenId) external view returns (Financing memory) {
        if (_ownerOf(tokenId) == address(0)) revert UnknownReceivable(tokenId);
        Financing memory f = _financing[tokenId];
        if (f.debtor == address(0) && f.documentHash != 0) revert TermsArePrivate(tokenId, f.documentHash);
        return f;
    }

    /// @notice The commitment to the terms of private copy `tokenId` (zero: a copy with full
    /// terms): keccak256(abi.encode(salt, debtor, creditor, faceValue, currency, dueDate,
    /// documentHash)) (AssetPayloads.termsCommitment).
    function commitmentOf(uint256 tokenId) public view returns (bytes32) {
        if (_ownerOf(tokenId) == address(0)) revert UnknownReceivable(tokenId);
        Financing storage f = _financing[tokenId];
        return f.debtor == address(0) ? f.documentHash : bytes32(0);
    }

    /// @notice Whether `tokenId` is a private copy (only a commitment to its terms is kept).
    function isPrivate(uint256 tokenId) external view returns (bool) {
        return commitmentOf(tokenId) != 0;
    }

    /// @notice Assign the copy to `to` (the financier) and record the financing it carried in a
    /// `Financed` event (`FinancingDesk` sells through it); `advance` in the currency's minor
    /// units. The caller is the holder or approved, as for `transferFrom`.
    function assignWithFinancing(address to, uint256 tokenId, uint128 advance, uint16 discountBps) external {
        if (discountBps > MAX_BPS) revert BadDiscount(discountBps);
        if (to == address(0)) revert ERC721InvalidReceiver(address(0));
        if (_payments[tokenId].settled) revert ReceivableIsSettled(tokenId); // nothing to collect
        address from = _update(to, tokenId, msg.sender); // reverts for a token not here
        emit Financed(tokenId, from, to, advance, discountBps, uint64(block.timestamp));
    }

    function assetKind() external pure returns (uint8) {
        return 2;
    }

    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IReceivable).interfaceId || interfaceId == type(IFinanceable).interfaceId
            || super.supportsInterface(interfaceId);
    }
}
