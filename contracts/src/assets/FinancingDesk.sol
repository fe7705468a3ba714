// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IFinanceable} from "./IReceivable.sol";

/// @notice Financing a receivable on one chain, delivery versus payment. The holder signs an
/// `Offer` (EIP-712: an EOA's or an ERC-1271 wallet's signature); a financier takes it with
/// `finance`, and in one transaction the price moves from the financier to the holder and the
/// receivable to the financier through `assignWithFinancing`, which records the financing on
/// the receivable itself (home `Receivable`: `financingRecord`; a public chain's
/// `WrappedReceivable`: its `Financed` event). Both happen or neither does.
///
/// The desk holds nothing and has no admin: the holder approves it for the receivable, the
/// financier for the price. An offer names its seller, who must still hold the token when it
/// is taken, so an offer cannot move a token sold meanwhile (even to a new holder who approved
/// the desk too). Each offer is spent once by its (seller, nonce), nonces in any order so a
/// holder can have offers out for several receivables; `cancelOffer` spends one unused.
/// `buyer` zero: any financier may take it. `advance` is what the financing record states (the
/// price in the currency's minor units: the desk cannot convert, a public chain knows no
/// scale) and `discountBps` the discount to face value; the seller signs both.
///
/// The financier checks what it buys before taking an offer: that `asset` is the genuine
/// receivable contract of the route (xgate's deployment lists it) and, for a private copy,
/// the disclosed terms against its commitment.
contract FinancingDesk is EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant OFFER_TYPEHASH = keccak256(
        "Offer(address asset,uint256 tokenId,address seller,address buyer,address payToken,uint256 price,uint128 advance,uint16 discountBps,uint256 nonce,uint256 deadline)"
    );

    struct Offer {
        address asset;
        uint256 tokenId;
        address seller;
        address buyer;
        address payToken;
        uint256 price;
        uint128 advance;
        uint16 discountBps;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice Offers taken or cancelled, by seller and nonce.
    mapping(address seller => mapping(uint256 nonce => bool)) public offerSpent;

    event OfferTaken(
        address indexed asset,
        uint256 indexed tokenId,
        address indexed seller,
        address financier,
        address payToken,
        uint256 price,
        uint256 nonce
    );
    event OfferCancelled(address indexed seller, uint256 nonce);

    error OfferExpired(uint256 deadline);
    error OfferNotForCaller(address buyer, address caller);
    error OfferAlreadySpent(address seller, uint256 nonce);
    error SellerNotHolder(uint256 tokenId, address seller, address holder);
    error BadOfferSignature(address seller);
    error ZeroPrice();

    constructor() EIP712("xgate FinancingDesk", "1") {}

    /// @notice Take `o`: pay its price to the seller and receive the receivable.
    function finance(Offer calldata o, bytes calldata signature) external nonReentrant {
        if (block.timestamp > o.deadline) revert OfferExpired(o.deadline);
        if (o.buyer != address(0) && o.buyer != msg.sender) revert OfferNotForCaller(o.buyer, msg.sender);
        if (o.price == 0) revert ZeroPrice();
        if (offerSpent[o.seller][o.nonce]) revert OfferAlreadySpent(o.seller, o.nonce);
        address holder = IERC721(o.asset).ownerOf(o.tokenId);
        if (holder != o.seller) revert SellerNotHolder(o.tokenId, o.seller, holder);
        if (!SignatureChecker.isValidSignatureNow(o.seller, offerDigest(o), signature)) {
            revert BadOfferSignature(o.seller);
        }
        offerSpent[o.seller][o.nonce] = true;
        // The receivable first: a receivable that may not be financed (not acknowledged,
        // settled ...) fails with its own error before any allowance is looked at.
        IFinanceable(o.asset).assignWithFinancing(msg.sender, o.tokenId, o.advance, o.discountBps);
        IERC20(o.payToken).safeTransferFrom(msg.sender, o.seller, o.price);
        emit OfferTaken(o.asset, o.tokenId, o.seller, msg.sender, o.payToken, o.price, o.nonce);
    }

    /// @notice Withdraw an offer not taken yet (its nonce is spent).
    function cancelOffer(uint256 nonce) external {
        if (offerSpent[msg.sender][nonce]) revert OfferAlreadySpent(msg.sender, nonce);
        offerSpent[msg.sender][nonce] = true;
        emit OfferCancelled(msg.sender, nonce);
    }

    /// @notice The EIP-712 digest the seller signs for `o`.
    function offerDigest(Offer calldata o) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(OFFER_TYPEHASH, o)));
    }
}
