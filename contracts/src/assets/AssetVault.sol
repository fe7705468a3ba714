// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {IERC721Receiver} from "@openzeppelin/contracts/token/ERC721/IERC721Receiver.sol";
import {ERC165Checker} from "@openzeppelin/contracts/utils/introspection/ERC165Checker.sol";
import {IBridgeEndpoint} from "../interfaces/IBridgeEndpoint.sol";
import {AssetsEndpointClient} from "./AssetsEndpointClient.sol";
import {AssetMove, AssetPayloads, ReceivablePayment} from "./AssetPayloads.sol";
import {Financing, IReceivable} from "./IReceivable.sol";
import {TransferLimits} from "./TransferLimits.sol";

/// @notice Home-chain vault: locks ERC-20 and ERC-721 assets and sends a transfer message to
/// the wrapped-asset gateway on the destination chain; releases them when that gateway's burn
/// message arrives through the endpoint.
///
/// Solvency: ERC-20 is accounted by balance delta (a fee-on-transfer token mints what the vault
/// actually received) and per destination chain (`lockedFor`), so a compromised or buggy
/// foreign chain can never release more than was bridged to it. An ERC-721 is released only
/// to the chain it was locked to.
///
/// Limits (TransferLimits): per home token and remote chain, outbound locks draw on a value
/// bucket (ERC-721: NFT_UNITS per token) and revert beyond it; inbound releases beyond their
/// bucket or size threshold are held for `holdDelay` and cancellable by the guardian. A held
/// release is accounted at delivery (`lockedFor`/`lockedTo` drop then), so the tokens stay
/// in the vault, reserved for it, until it is executed or, once cancelled, released by the
/// admin.
///
/// Settlement that follows the holder: a payment for a receivable this vault holds (bridged
/// out) is paid into the vault by the `Receivable` and forwarded (`forwardPayment`) to the
/// gateway of the chain the receivable is locked to, accounted in `lockedFor` like a lock of
/// the settlement token; there it becomes wrapped settlement tokens for the wrapped copy's
/// holder. If the wrapped copy had left for home before the payment arrived, the gateway sends
/// the payment back and this vault pays the receivable's holder at delivery: its home holder
/// once the release has landed, or forwards it again if the receivable is (still or again)
/// locked to a chain. It is never paid out twice (each message runs once and moves the whole
/// amount) and never dropped (docs/architecture.md, "Settlement of bridged receivables").
///
/// Private terms (`privateTerms`, per destination chain, admin): a receivable locked for such
/// a chain travels as ERC721_PRIVATE_TRANSFER with only `AssetPayloads.termsCommitment(salt,
/// financing)`, so the public chain never sees its terms. The locker supplies the salt (secret,
/// non-zero: `lockERC721Private`, or 96 bytes of `safeTransferFrom` data) and keeps it to
/// disclose the terms later; a lock without a salt is refused for a private chain, and one with
/// a salt for a public chain (it would publish what the caller meant to hide).
contract AssetVault is TransferLimits, IERC721Receiver {
    using SafeERC20 for IERC20;

    uint8 private constant ROUTE_ERC20 = 1;
    uint8 private constant ROUTE_ERC721 = 2;

    /// @dev token => destination chain => the asset kind locking is allowed for (0: none). Only
    /// tokens the destination's gateway knows, so nothing can be locked without a wrapped
    /// counterpart; and only through the path of their kind: ERC-20 and ERC-721 share the
    /// `transferFrom` selector, so a receivable "locked" as an ERC-20 amount would count one
    /// unit instead of NFT_UNITS and send a transfer its gateway can never mint.
    mapping(address token => mapping(uint256 dstChainId => uint8)) private _routeKind;
    /// @notice ERC-20 amount bridged to `chainId` and not yet released back.
    mapping(address token => mapping(uint256 chainId => uint256)) public lockedFor;
    /// @notice The chain an ERC-721 token is locked to (0: not locked).
    mapping(address token => mapping(uint256 tokenId => uint256 chainId)) public lockedTo;
    /// @notice Whether receivables locked for `dstChainId` carry only a commitment to their terms.
    mapping(uint256 dstChainId => bool) public privateTerms;

    event RouteSet(address indexed token, uint256 indexed dstChainId, bool enabled);
    event PrivateTermsSet(uint256 indexed dstChainId, bool enabled);
    event LockedERC20(
        bytes32 indexed messageId,
        address indexed token,
        address indexed from,
        uint256 dstChainId,
        address recipient,
        uint256 amount
    );
    event LockedERC721(
        bytes32 indexed messageId,
        address indexed token,
        address indexed from,
        uint256 dstChainId,
        address recipient,
        uint256 tokenId
    );
    event ReleasedERC20(
        bytes32 indexed messageId, address indexed token, address indexed recipient, uint256 srcChainId, uint256 amount
    );
    event ReleasedERC721(
        bytes32 indexed messageId, address indexed token, address indexed recipient, uint256 srcChainId, uint256 tokenId
    );
    event PaymentForwarded(
        bytes32 indexed messageId,
        address indexed receivable,
        uint256 indexed tokenId,
        uint256 dstChainId,
        address token,
        uint256 amount,
        uint128 totalPaid
    );
    event PaymentReturned(
        bytes32 indexed messageId,
        address indexed receivable,
        uint256 indexed tokenId,
        address holder,
        address token,
        uint256 amount
    );

    error InvalidRoute(uint256 dstChainId);
    error RouteDisabled(address token, uint256 dstChainId);
    error WrongAssetKind(address token, uint256 dstChainId);
    error ZeroAmount();
    error ZeroRecipient();
    error NothingReceived(address token);
    error BadTransferData(uint256 length);
    error NotReceived(address token, uint256 tokenId);
    error WrongHomeChain(uint256 homeChainId);
    error UnsupportedPayload(uint8 kind);
    error ReleaseExceedsLocked(address token, uint256 chainId, uint256 amount, uint256 locked);
    error NotLockedFor(address token, uint256 tokenId, uint256 chainId);
    error ReleasePending(address receivable, uint256 tokenId);
    /// @dev A lock for a chain with private terms needs the locker's (non-zero) salt.
    error SaltRequired(uint256 dstChainId);
    /// @dev A salted (private) lock for a chain that gets full terms.
    error TermsNotPrivate(uint256 dstChainId);

    constructor(IBridgeEndpoint endpoint_, address admin) AssetsEndpointClient(endpoint_, admin) {}

    // -- admin ------------------------------------------------------------------------------

    /// @notice Allow (or stop) locking `token` for `dstChainId`. Its kind is read here: an
    /// ERC-721 (ERC-165) locks only as an ERC-721, anything else only as an ERC-20.
    function setRoute(address token, uint256 dstChainId, bool enabled) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (token == address(0)) revert ZeroAddress();
        if (dstChainId == 0 || dstChainId == block.chainid) revert InvalidRoute(dstChainId);
        uint8 kind;
        if (enabled) {
            kind = ERC165Checker.supportsInterface(token, type(IERC721).interfaceId) ? ROUTE_ERC721 : ROUTE_ERC20;
        }
        _routeKind[token][dstChainId] = kind;
        emit RouteSet(token, dstChainId, enabled);
    }

    /// @notice Send receivables locked for `dstChainId` with only a commitment to their terms
    /// (`enabled`), or with their full financing metadata. Applies to locks from now on.
    function setPrivateTerms(uint256 dstChainId, bool enabled) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (dstChainId == 0 || dstChainId == block.chainid) revert InvalidRoute(dstChainId);
        privateTerms[dstChainId] = enabled;
        emit PrivateTermsSet(dstChainId, enabled);
    }

    /// @notice Whether `token` may be locked for `dstChainId` (through the path of its kind).
    function routeEnabled(address token, uint256 dstChainId) external view returns (bool) {
        return _routeKind[token][dstChainId] != 0;
    }

    // -- lock ---------------------------------------------------------------------------------

    /// @notice Lock `amount` of `token` (approved beforehand) and send it to `recipient` on
    /// `dstChainId`. Returns the bridge message id. What is minted there is what arrived here.
    function lockERC20(address token, uint256 amount, uint256 dstChainId, address recipient)
        external
        nonReentrant
        returns (bytes32)
    {
        return _lockERC20(token, amount, dstChainId, recipient);
    }

    /// @notice `lockERC20` with an EIP-2612 permit instead of a prior approve. A permit that was
    /// already used (front-run) is ignored when the allowance is there anyway.
    function lockERC20WithPermit(
        address token,
        uint256 amount,
        uint256 dstChainId,
        address recipient,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (bytes32) {
        try IERC20Permit(token).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        return _lockERC20(token, amount, dstChainId, recipient);
    }

    /// @notice Lock an approved ERC-721 token. The one-transaction alternative is
    /// `token.safeTransferFrom(owner, vault, tokenId, abi.encode(dstChainId, recipient))`.
    function lockERC721(address token, uint256 tokenId, uint256 dstChainId, address recipient)
        external
        nonReentrant
        returns (bytes32)
    {
        _checkRoute(token, dstChainId, ROUTE_ERC721);
        IERC721(token).transferFrom(msg.sender, address(this), tokenId);
        return _lockERC721(token, msg.sender, tokenId, dstChainId, recipient, 0);
    }

    /// @notice `lockERC721` for a chain with private terms: the payload carries
    /// `AssetPayloads.termsCommitment(salt, financingOf(tokenId))` instead of the terms. `salt`
    /// is the caller's secret (32 random bytes, kept to disclose the terms; zero refused).
    function lockERC721Private(address token, uint256 tokenId, uint256 dstChainId, address recipient, bytes32 salt)
        external
        nonReentrant
        returns (bytes32)
    {
        if (salt == 0) revert SaltRequired(dstChainId);
        _checkRoute(token, dstChainId, ROUTE_ERC721);
        IERC721(token).transferFrom(msg.sender, address(this), tokenId);
        return _lockERC721(token, msg.sender, tokenId, dstChainId, recipient, salt);
    }

    /// @notice One-transaction ERC-721 lock: `data` = abi.encode(uint256 dstChainId, address
    /// recipient), or abi.encode(uint256 dstChainId, address recipient, bytes32 salt) for a chain
    /// with private terms. Transfers without that data are refused, so no token gets stuck here.
    function onERC721Received(address, address from, uint256 tokenId, bytes calldata data)
        external
        nonReentrant
        returns (bytes4)
    {
        uint256 dstChainId;
        address recipient;
        bytes32 salt;
        if (data.length == 64) {
            (dstChainId, recipient) = abi.decode(data, (uint256, address));
        } else if (data.length == 96) {
            (dstChainId, recipient, salt) = abi.decode(data, (uint256, address, bytes32));
            if (salt == 0) revert SaltRequired(dstChainId);
        } else {
            revert BadTransferData(data.length);
        }
        // msg.sender is the token: only a routed ERC-721 passes, and it must really have handed
        // the token over (_lockERC721 checks: a contract calling this directly has not).
        _checkRoute(msg.sender, dstChainId, ROUTE_ERC721);
        _lockERC721(msg.sender, from, tokenId, dstChainId, recipient, salt);
        return IERC721Receiver.onERC721Received.selector;
    }

    function _lockERC20(address token, uint256 amount, uint256 dstChainId, address recipient)
        private
        returns (bytes32 id)
    {
        _checkRoute(token, dstChainId, ROUTE_ERC20);
        if (amount == 0) revert ZeroAmount();
        if (recipient == address(0)) revert ZeroRecipient();
        uint256 before = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = IERC20(token).balanceOf(address(this)) - before;
        if (received == 0) revert NothingReceived(token);
        _drawOutbound(token, dstChainId, received);
        lockedFor[token][dstChainId] += received;
        id = _send(
            dstChainId,
            AssetPayloads.encodeMove(AssetPayloads.ERC20_TRANSFER, AssetMove(token, block.chainid, recipient, received))
        );
        emit LockedERC20(id, token, msg.sender, dstChainId, recipient, received);
    }

    /// @dev `salt` zero: a lock with full terms; else a private one (the chain must match).
    function _lockERC721(
        address token,
        address from,
        uint256 tokenId,
        uint256 dstChainId,
        address recipient,
        bytes32 salt
    ) private returns (bytes32 id) {
        if (recipient == address(0)) revert ZeroRecipient();
        if (IERC721(token).ownerOf(tokenId) != address(this)) revert NotReceived(token, tokenId);
        if (privateTerms[dstChainId] != (salt != 0)) {
            if (salt == 0) revert SaltRequired(dstChainId);
            revert TermsNotPrivate(dstChainId);
        }
        _drawOutbound(token, dstChainId, NFT_UNITS);
        lockedTo[token][tokenId] = dstChainId;
        Financing memory f;
        if (ERC165Checker.supportsInterface(token, type(IReceivable).interfaceId)) {
            f = IReceivable(token).financingOf(tokenId);
        }
        AssetMove memory m = AssetMove(token, block.chainid, recipient, tokenId);
        id = _send(
            dstChainId,
            salt == 0
                ? AssetPayloads.encodeErc721Transfer(m, f)
                : AssetPayloads.encodeErc721PrivateTransfer(m, AssetPayloads.termsCommitment(salt, f))
        );
        emit LockedERC721(id, token, from, dstChainId, recipient, tokenId);
    }

    // -- settlement of bridged receivables ------------------------------------------------------

    /// @notice Called by a receivable this vault holds, after it moved `amount` of its
    /// settlement `token` (the payment of `tokenId`) into the vault: send it to the chain the
    /// receivable is locked to. Only a token locked here through its route can call (so only a
    /// contract the admin routed, trusted to have paid the amount in); the settlement token
    /// must be routed to that chain (else the payment is refused at home, not stranded).
    /// A payment is never refused by a rate limit: the receiving gateway holds large ones.
    /// While the token's release is held here (locked to no chain, not yet paid out), the
    /// payment is refused (NotLockedFor, chain 0) until the release is executed.
    /// `settled` (this payment settled the receivable at home) travels with the payment, so the
    /// wrapped copy knows it without the face value (a private copy does not have it).
    function forwardPayment(uint256 tokenId, address token, uint256 amount, uint128 totalPaid, bool settled)
        external
        nonReentrant
        returns (bytes32)
    {
        uint256 dst = lockedTo[msg.sender][tokenId];
        if (dst == 0) revert NotLockedFor(msg.sender, tokenId, 0);
        _checkRoute(token, dst, ROUTE_ERC20);
        return _forward(
            ReceivablePayment(msg.sender, block.chainid, tokenId, token, amount, totalPaid, settled), dst
        );
    }

    function _forward(ReceivablePayment memory p, uint256 dst) private returns (bytes32 id) {
        lockedFor[p.token][dst] += p.amount;
        id = _send(dst, AssetPayloads.encodePayment(p));
        emit PaymentForwarded(id, p.receivable, p.tokenId, dst, p.token, p.amount, p.totalPaid);
    }

    /// @dev A payment the gateway sent back (the wrapped copy had gone home): pay the holder at
    /// home, or forward it again to wherever the receivable is locked now (`to`: the admin's
    /// recipient of a cancelled hold). A re-forward is the payment as it came back, `settled`
    /// included.
    function _returnPayment(bytes32 id, ReceivablePayment memory p, address to) private {
        if (to == address(0)) {
            uint256 dst = lockedTo[p.receivable][p.tokenId];
            if (dst != 0) {
                _forward(p, dst);
                return;
            }
            to = IERC721(p.receivable).ownerOf(p.tokenId);
            // its release is held here: deliverable again once that release is executed
            if (to == address(this)) revert ReleasePending(p.receivable, p.tokenId);
        }
        IERC20(p.token).safeTransfer(to, p.amount);
        emit PaymentReturned(id, p.receivable, p.tokenId, to, p.token, p.amount);
    }

    function _checkRoute(address token, uint256 dstChainId, uint8 kind) private view {
        uint8 routed = _routeKind[token][dstChainId];
        if (routed != kind) {
            if (routed == 0) revert RouteDisabled(token, dstChainId);
            revert WrongAssetKind(token, dstChainId);
        }
    }

    // -- release ------------------------------------------------------------------------------

    /// @dev Accounting happens here, at delivery (a held release is reserved at once); the
    /// transfer itself now or, when held, in `_payOut` later.
    function _handle(bytes32 id, uint256 srcChainId, bytes calldata payload) internal override nonReentrant {
        if (AssetPayloads.kindOf(payload) == AssetPayloads.RECEIVABLE_PAYMENT) {
            ReceivablePayment memory p = _decodePayment(payload);
            _unlockERC20(p.token, srcChainId, p.amount);
            if (!_admitInbound(p.token, srcChainId, p.amount)) return _hold(id, srcChainId, payload);
            return _returnPayment(id, p, address(0));
        }
        (uint8 kind, AssetMove memory m) = _decodeRelease(payload);
        uint256 units;
        if (kind == AssetPayloads.ERC20_RELEASE) {
            _unlockERC20(m.token, srcChainId, m.value);
            units = m.value;
        } else {
            if (lockedTo[m.token][m.value] != srcChainId) revert NotLockedFor(m.token, m.value, srcChainId);
            delete lockedTo[m.token][m.value];
            units = NFT_UNITS;
        }
        if (!_admitInbound(m.token, srcChainId, units)) return _hold(id, srcChainId, payload);
        _release(id, srcChainId, kind, m, m.recipient);
    }

    /// @dev `amount` of `token` comes back from `chainId` (a release or a returned payment): it
    /// can never exceed what was locked (or forwarded) for that chain.
    function _unlockERC20(address token, uint256 chainId, uint256 amount) private {
        uint256 locked = lockedFor[token][chainId];
        if (amount > locked) revert ReleaseExceedsLocked(token, chainId, amount, locked);
        lockedFor[token][chainId] = locked - amount;
    }

    function _payOut(bytes32 id, uint256 srcChainId, bytes calldata payload, address to) internal override {
        if (AssetPayloads.kindOf(payload) == AssetPayloads.RECEIVABLE_PAYMENT) {
            return _returnPayment(id, _decodePayment(payload), to);
        }
        (uint8 kind, AssetMove memory m) = _decodeRelease(payload);
        _release(id, srcChainId, kind, m, to == address(0) ? m.recipient : to);
    }

    function _decodeRelease(bytes calldata payload) private view returns (uint8 kind, AssetMove memory m) {
        kind = AssetPayloads.kindOf(payload);
        if (kind != AssetPayloads.ERC20_RELEASE && kind != AssetPayloads.ERC721_RELEASE) {
            revert UnsupportedPayload(kind);
        }
        m = AssetPayloads.decodeMove(kind, payload);
        if (m.homeChainId != block.chainid) revert WrongHomeChain(m.homeChainId);
    }

    function _decodePayment(bytes calldata payload) private view returns (ReceivablePayment memory p) {
        p = AssetPayloads.decodePayment(payload);
        if (p.homeChainId != block.chainid) revert WrongHomeChain(p.homeChainId);
    }

    function _release(bytes32 id, uint256 srcChainId, uint8 kind, AssetMove memory m, address to) private {
        if (kind == AssetPayloads.ERC20_RELEASE) {
            IERC20(m.token).safeTransfer(to, m.value);
            emit ReleasedERC20(id, m.token, to, srcChainId, m.value);
        } else {
            // transferFrom, not safeTransferFrom: a recipient contract must not be able to block
            // (and so strand) its own release.
            IERC721(m.token).transferFrom(address(this), to, m.value);
            emit ReleasedERC721(id, m.token, to, srcChainId, m.value);
        }
    }
}
