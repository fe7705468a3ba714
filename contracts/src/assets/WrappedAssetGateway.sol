// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IBridgeEndpoint} from "../interfaces/IBridgeEndpoint.sol";
import {AssetsEndpointClient} from "./AssetsEndpointClient.sol";
import {AssetMove, AssetPayloads, ReceivablePayment} from "./AssetPayloads.sol";
import {Financing, IWrappedAsset} from "./IReceivable.sol";
import {TransferLimits} from "./TransferLimits.sol";
import {WrappedERC20} from "./WrappedERC20.sol";
import {WrappedReceivable} from "./WrappedReceivable.sol";

/// @notice Foreign-chain side of the asset bridge: the only minter and burner of the wrapped
/// assets registered with it. Mints on a verified transfer message from the home vault; a
/// holder bridges back by burning here, which sends the release message to that vault.
///
/// Limits (TransferLimits), per wrapped asset and home chain: burns draw on the outbound
/// bucket (ERC-721: NFT_UNITS per token) and revert beyond it; mints beyond the inbound bucket
/// or size threshold are held for `holdDelay` (nothing minted yet) and cancellable by the
/// guardian; a cancelled mint stays unminted (its originals stay locked in the home vault)
/// until the admin releases it to a recipient it names.
///
/// Settlement of bridged receivables (RECEIVABLE_PAYMENT from the home vault): the payment is
/// minted as the wrapped settlement token to whoever holds the wrapped receivable when the
/// message is delivered, and recorded on it (`WrappedReceivable.paymentOf`), with the payload's
/// `settled` flag (set by the home chain: the payment settled the receivable). The rule for a
/// payment that finds no wrapped copy here:
///   - the copy has not arrived yet (never minted, or its mint is held or still in flight):
///     the payment waits here, unminted, keyed by the home token id (`paymentAwaiting`), and
///     the mint delivery of that token forwards it to the new holder, once;
///   - the copy was burnt (on its way home, or home already): the payment goes back to the
///     vault in a RECEIVABLE_PAYMENT (the same payload, `settled` unchanged), which pays the
///     home holder (or forwards it again if the receivable was bridged out again meanwhile).
/// A receivable from a route with private terms (ERC721_PRIVATE_TRANSFER) is minted as a
/// private copy (`WrappedReceivable.mintPrivate`) that keeps only the commitment to its terms;
/// limits, holds, payments, settlement and the burn home work the same as for a copy with full
/// terms.
/// Every payment message is delivered once and moves its whole amount to exactly one place
/// (a holder, the waiting slot, or back home), so no payment is lost or paid twice. Payments
/// count on the wrapped settlement token's inbound limit like a transfer of it (held above it).
contract WrappedAssetGateway is TransferLimits {
    struct Home {
        address token;
        uint8 kind;
        uint256 chainId;
    }

    /// @notice wrapped asset => its home token (kind 0: not a registered wrapped asset).
    mapping(address wrapped => Home) public homeOf;
    mapping(bytes32 homeKey => address) private _wrappedOf;

    /// @notice A payment waiting for its wrapped receivable to arrive (unminted tokens).
    struct AwaitingPayment {
        address wrappedToken;
        uint256 amount;
    }

    /// @notice wrapped receivable => home token id => the payment waiting for its mint.
    mapping(address wrappedReceivable => mapping(uint256 tokenId => AwaitingPayment)) public paymentAwaiting;

    event WrappedRegistered(address indexed wrapped, uint256 indexed homeChainId, address indexed homeToken, uint8 kind);
    event Minted(
        bytes32 indexed messageId, address indexed wrapped, address indexed recipient, uint256 srcChainId, uint256 value
    );
    /// @notice A payment reached the wrapped receivable's holder (`awaited`: it had waited for the mint).
    event PaymentDelivered(
        bytes32 indexed messageId,
        address indexed wrappedReceivable,
        uint256 indexed tokenId,
        address holder,
        address wrappedToken,
        uint256 amount,
        bool awaited
    );
    event PaymentAwaiting(
        bytes32 indexed messageId, address indexed wrappedReceivable, uint256 indexed tokenId, uint256 amount
    );
    event PaymentReturned(
        bytes32 indexed messageId, address indexed wrappedReceivable, uint256 indexed tokenId, bytes32 returnId
    );
    event Burned(
        bytes32 indexed messageId,
        address indexed wrapped,
        address indexed from,
        uint256 homeChainId,
        address homeRecipient,
        uint256 value
    );

    error GatewayMismatch(address wrapped, address gateway);
    error InvalidWrapped(address wrapped);
    error AlreadyRegistered(uint256 homeChainId, address homeToken, address wrapped);
    error UnsupportedPayload(uint8 kind);
    error HomeChainMismatch(uint256 homeChainId, uint256 srcChainId);
    error UnknownAsset(uint256 homeChainId, address homeToken);
    error AssetKindMismatch(address wrapped, uint8 kind);
    error NotWrapped(address wrapped);
    error ZeroAmount();
    error ZeroRecipient();
    error AwaitingOtherToken(uint256 tokenId, address awaiting, address wrappedToken);

    constructor(IBridgeEndpoint endpoint_, address admin) AssetsEndpointClient(endpoint_, admin) {}

    /// @notice Register a wrapped asset deployed for this gateway. Its home token can be
    /// registered once: replacing it would strand the holders of the first one.
    function registerWrapped(address wrapped) external onlyRole(DEFAULT_ADMIN_ROLE) {
        IWrappedAsset w = IWrappedAsset(wrapped);
        if (w.gateway() != address(this)) revert GatewayMismatch(wrapped, w.gateway());
        uint8 kind = w.assetKind();
        uint256 homeChainId = w.homeChainId();
        address homeToken = w.homeToken();
        if (
            (kind != AssetPayloads.ERC20_TRANSFER && kind != AssetPayloads.ERC721_TRANSFER) || homeChainId == 0
                || homeToken == address(0)
        ) revert InvalidWrapped(wrapped);
        bytes32 key = _key(homeChainId, homeToken);
        address existing = _wrappedOf[key];
        if (existing != address(0)) revert AlreadyRegistered(homeChainId, homeToken, existing);
        _wrappedOf[key] = wrapped;
        homeOf[wrapped] = Home(homeToken, kind, homeChainId);
        emit WrappedRegistered(wrapped, homeChainId, homeToken, kind);
    }

    /// @notice The wrapped asset of `homeToken` from `homeChainId` (zero: none).
    function wrappedOf(uint256 homeChainId, address homeToken) external view returns (address) {
        return _wrappedOf[_key(homeChainId, homeToken)];
    }

    // -- burn -> release ----------------------------------------------------------------------

    /// @notice Burn `amount` of the caller's `wrapped` tokens; `homeRecipient` gets the
    /// originals on the home chain. Returns the release message id.
    function burnERC20(address wrapped, uint256 amount, address homeRecipient)
        external
        nonReentrant
        returns (bytes32 id)
    {
        Home memory h = _homeOf(wrapped, AssetPayloads.ERC20_TRANSFER);
        if (amount == 0) revert ZeroAmount();
        if (homeRecipient == address(0)) revert ZeroRecipient();
        _drawOutbound(wrapped, h.chainId, amount);
        WrappedERC20(wrapped).burn(msg.sender, amount);
        id = _send(
            h.chainId, AssetPayloads.encodeMove(AssetPayloads.ERC20_RELEASE, AssetMove(h.token, h.chainId, homeRecipient, amount))
        );
        emit Burned(id, wrapped, msg.sender, h.chainId, homeRecipient, amount);
    }

    /// @notice Burn wrapped receivable `tokenId` (the caller owns it or is approved for it).
    function burnERC721(address wrapped, uint256 tokenId, address homeRecipient)
        external
        nonReentrant
        returns (bytes32 id)
    {
        Home memory h = _homeOf(wrapped, AssetPayloads.ERC721_TRANSFER);
        if (homeRecipient == address(0)) revert ZeroRecipient();
        _drawOutbound(wrapped, h.chainId, NFT_UNITS);
        address owner = WrappedReceivable(wrapped).burn(msg.sender, tokenId);
        id = _send(
            h.chainId, AssetPayloads.encodeMove(AssetPayloads.ERC721_RELEASE, AssetMove(h.token, h.chainId, homeRecipient, tokenId))
        );
        emit Burned(id, wrapped, owner, h.chainId, homeRecipient, tokenId);
    }

    // -- transfer -> mint ---------------------------------------------------------------------

    function _handle(bytes32 id, uint256 srcChainId, bytes calldata payload) internal override nonReentrant {
        if (AssetPayloads.kindOf(payload) == AssetPayloads.RECEIVABLE_PAYMENT) {
            (ReceivablePayment memory p, address wr, address wt) = _decodePayment(srcChainId, payload);
            if (!_admitInbound(wt, srcChainId, p.amount)) return _hold(id, srcChainId, payload);
            return _settle(id, srcChainId, p, wr, wt, address(0));
        }
        (uint8 kind, address wrapped, AssetMove memory m, Financing memory f) = _decodeTransfer(srcChainId, payload);
        uint256 units = kind == AssetPayloads.ERC20_TRANSFER ? m.value : NFT_UNITS;
        // (for kind 6, f is zero but for documentHash: the commitment; see _decodeTransfer)
        if (!_admitInbound(wrapped, srcChainId, units)) return _hold(id, srcChainId, payload);
        _mint(id, srcChainId, kind, wrapped, m, f, m.recipient);
    }

    function _payOut(bytes32 id, uint256 srcChainId, bytes calldata payload, address to) internal override {
        if (AssetPayloads.kindOf(payload) == AssetPayloads.RECEIVABLE_PAYMENT) {
            (ReceivablePayment memory p, address wr, address wt) = _decodePayment(srcChainId, payload);
            return _settle(id, srcChainId, p, wr, wt, to);
        }
        (uint8 kind, address wrapped, AssetMove memory m, Financing memory f) = _decodeTransfer(srcChainId, payload);
        _mint(id, srcChainId, kind, wrapped, m, f, to == address(0) ? m.recipient : to);
    }

    function _decodeTransfer(uint256 srcChainId, bytes calldata payload)
        private
        view
        returns (uint8 kind, address wrapped, AssetMove memory m, Financing memory f)
    {
        kind = AssetPayloads.kindOf(payload);
        if (kind == AssetPayloads.ERC20_TRANSFER) {
            m = AssetPayloads.decodeMove(kind, payload);
        } else if (kind == AssetPayloads.ERC721_TRANSFER) {
            (m, f) = AssetPayloads.decodeErc721Transfer(payload);
        } else if (kind == AssetPayloads.ERC721_PRIVATE_TRANSFER) {
            // the commitment rides in documentHash, as the private copy stores it
            (m, f.documentHash) = AssetPayloads.decodeErc721PrivateTransfer(payload);
        } else {
            revert UnsupportedPayload(kind);
        }
        // The vault on chain X only ever locks X's tokens: a mismatch is a forged or foreign payload.
        if (m.homeChainId != srcChainId) revert HomeChainMismatch(m.homeChainId, srcChainId);
        // a private copy is a WrappedReceivable like one with full terms
        uint8 assetKind = kind == AssetPayloads.ERC721_PRIVATE_TRANSFER ? AssetPayloads.ERC721_TRANSFER : kind;
        wrapped = _registered(srcChainId, m.token, assetKind);
    }

    function _mint(
        bytes32 id,
        uint256 srcChainId,
        uint8 kind,
        address wrapped,
        AssetMove memory m,
        Financing memory f,
        address to
    ) private {
        if (kind == AssetPayloads.ERC20_TRANSFER) {
            WrappedERC20(wrapped).mint(to, m.value);
        } else if (kind == AssetPayloads.ERC721_TRANSFER) {
            WrappedReceivable(wrapped).mint(to, m.value, f);
        } else {
            WrappedReceivable(wrapped).mintPrivate(to, m.value, f.documentHash);
        }
        emit Minted(id, wrapped, to, srcChainId, m.value);
        if (kind != AssetPayloads.ERC20_TRANSFER) {
            // a payment that arrived before the receivable: forward it to its holder, once
            AwaitingPayment storage a = paymentAwaiting[wrapped][m.value];
            uint256 amount = a.amount;
            if (amount != 0) {
                address wt = a.wrappedToken;
                delete paymentAwaiting[wrapped][m.value];
                WrappedERC20(wt).mint(to, amount);
                WrappedReceivable(wrapped).arrived(m.value);
                emit PaymentDelivered(id, wrapped, m.value, to, wt, amount, true);
            }
        }
    }

    function _decodePayment(uint256 srcChainId, bytes calldata payload)
        private
        view
        returns (ReceivablePayment memory p, address wrappedReceivable, address wrappedToken)
    {
        p = AssetPayloads.decodePayment(payload);
        if (p.homeChainId != srcChainId) revert HomeChainMismatch(p.homeChainId, srcChainId);
        wrappedReceivable = _registered(srcChainId, p.receivable, AssetPayloads.ERC721_TRANSFER);
        wrappedToken = _registered(srcChainId, p.token, AssetPayloads.ERC20_TRANSFER);
    }

    function _registered(uint256 homeChainId, address homeToken, uint8 kind) private view returns (address wrapped) {
        wrapped = _wrappedOf[_key(homeChainId, homeToken)];
        if (wrapped == address(0)) revert UnknownAsset(homeChainId, homeToken);
        if (homeOf[wrapped].kind != kind) revert AssetKindMismatch(wrapped, kind);
    }

    /// @dev Pay `p` to the wrapped receivable's holder now (or to `to`, the admin's recipient of
    /// a cancelled hold), keep it for the mint, or send it back home (contract note).
    function _settle(
        bytes32 id,
        uint256 srcChainId,
        ReceivablePayment memory p,
        address wr,
        address wt,
        address to
    ) private {
        (address holder, bool gone) =
            WrappedReceivable(wr).recordPayment(p.tokenId, p.amount, p.totalPaid, p.settled);
        if (to == address(0)) to = holder;
        if (to != address(0)) {
            WrappedERC20(wt).mint(to, p.amount);
            emit PaymentDelivered(id, wr, p.tokenId, to, wt, p.amount, false);
        } else if (gone) {
            bytes32 back = _send(srcChainId, AssetPayloads.encodePayment(p));
            emit PaymentReturned(id, wr, p.tokenId, back);
        } else {
            AwaitingPayment storage a = paymentAwaiting[wr][p.tokenId];
            address awaiting = a.wrappedToken;
            if (awaiting != wt) {
                // the currency's settlement token changed at home between two payments: this
                // one stays deliverable (the endpoint records nothing) until the receivable lands
                if (awaiting != address(0)) revert AwaitingOtherToken(p.tokenId, awaiting, wt);
                a.wrappedToken = wt;
            }
            a.amount += p.amount;
            emit PaymentAwaiting(id, wr, p.tokenId, p.amount);
        }
    }

    function _homeOf(address wrapped, uint8 kind) private view returns (Home memory h) {
        h = homeOf[wrapped];
        if (h.kind == 0) revert NotWrapped(wrapped);
        if (h.kind != kind) revert AssetKindMismatch(wrapped, kind);
    }

    function _key(uint256 homeChainId, address homeToken) private pure returns (bytes32) {
        return keccak256(abi.encode(homeChainId, homeToken));
    }
}
