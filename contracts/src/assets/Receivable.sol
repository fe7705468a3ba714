// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Financing, IFinanceable, IReceivable} from "./IReceivable.sol";

/// @notice A bridge vault that forwards the payments of receivables it holds (AssetVault).
/// `settled`: this payment settled the receivable (its state is Settled after it).
interface IPaymentForwarder {
    function forwardPayment(uint256 tokenId, address token, uint256 amount, uint128 totalPaid, bool settled)
        external
        returns (bytes32);
}

/// @notice Receivables (ERC-721) on the consortium chain: a claim of `creditor` on `debtor`
/// with a lifecycle. Token ids count up from 1; a document hash is used once, ever.
///
///   draft (creditor, or an ISSUER_ROLE originator for it)  -> Drafted, minted to the creditor
///   acknowledge / acknowledgeBySig (the debtor, EIP-712)   -> Acknowledged: now financeable
///   cancel (the creditor, only while Drafted)              -> Cancelled
///   dispute (the debtor, while Acknowledged)               -> Disputed
///   resolveDispute (ARBITER_ROLE)                          -> Acknowledged or Cancelled
///   split (the holder, while Acknowledged)                 -> Split; parts minted Acknowledged
///   pay (anyone, partial) / settle (anyone, from dueDate)  -> Settled once fully paid
///   markDefault (anyone, after dueDate + gracePeriod)      -> Defaulted (still payable)
///
/// Cancellation after acknowledgement is only through a dispute the arbiter resolves to
/// Cancelled (a debtor cannot walk away alone, a creditor cannot undo an assignment).
///
/// Transfers (assignments of the claim) are allowed only while Acknowledged; mint and burn
/// always, and so is every transfer out of a registered bridge vault: a release back home must
/// never be blocked by what happened while the token was away. `assignWithFinancing` is a
/// transfer that also records the financing (financier = new holder, advance, discount, time).
///
/// Payments are in the currency's settlement token (one per currency code, set by the admin
/// with its scale: token base units per minor unit of the currency) and go to whoever holds
/// the token when paid. A token held by a bridge vault is bridged out: the payment goes into
/// the vault, which forwards it (`IPaymentForwarder.forwardPayment`) through the bridge to the
/// holder of the wrapped copy on the chain it was locked to (AssetVault's contract note and
/// docs/architecture.md, "Settlement of bridged receivables"). The receivable is marked paid
/// (and Settled) here at once, as for a local payment: the debtor has paid; the forwarded
/// payment says whether it settled the receivable, so the wrapped copy (even a private one,
/// which has no face value) learns it.
contract Receivable is ERC721, AccessControl, EIP712, Nonces, IReceivable, IFinanceable {
    using SafeERC20 for IERC20;

    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    bytes32 public constant ACKNOWLEDGEMENT_TYPEHASH = keccak256(
        "Acknowledgement(uint256 tokenId,bytes32 documentHash,uint128 faceValue,uint64 dueDate,uint256 nonce,uint256 deadline)"
    );
    uint256 public constant MAX_PARTS = 32;
    uint16 public constant MAX_BPS = 10_000;

    enum State {
        None,
        Drafted,
        Acknowledged,
        Cancelled,
        Disputed,
        Settled,
        Defaulted,
        Split
    }

    /// @notice A transfer that carried financing: the new holder advanced `advance` (minor units)
    /// at `discountBps`.
    struct FinancingRecord {
        address financier;
        uint128 advance;
        uint16 discountBps;
        uint64 at;
    }

    /// @notice Everything the scorer needs about one token besides `financingOf`.
    struct Status {
        State state;
        uint128 paid;
        uint128 outstanding;
        uint256 parentId;
        uint256 financingCount;
        uint64 draftedAt;
        uint64 acknowledgedAt;
        uint64 closedAt; // cancelled, settled (paid at), defaulted or split at
        uint32 daysPastDue; // of the settlement: whole days after the due date (rounded down)
        bytes32 disputeReason;
    }

    struct SettlementAsset {
        IERC20 token;
        uint96 scale; // token base units per minor unit of the currency
    }

    struct Record {
        uint128 paid;
        uint64 draftedAt;
        uint64 acknowledgedAt;
        uint64 closedAt;
        uint32 daysPastDue;
        State state;
        uint64 parentId; // token ids count up from 1: a uint64 never runs out
        bytes32 disputeReason;
    }

    /// @notice documentHash => token id (0: never drafted). Never cleared.
    mapping(bytes32 documentHash => uint256) public tokenOfDocument;
    /// @notice The settlement token of a currency code (and its scale).
    mapping(bytes3 currency => SettlementAsset) public settlementAssetOf;
    /// @notice Bridge vaults: tokens they hold are bridged out (payments are forwarded).
    mapping(address vault => bool) public isBridgeVault;
    /// @notice Seconds after the due date before an unpaid receivable can be marked Defaulted.
    uint64 public gracePeriod;

    mapping(uint256 tokenId => Financing) private _financing;
    mapping(uint256 tokenId => Record) private _records;
    mapping(uint256 tokenId => FinancingRecord[]) private _financings;
    uint256 private _lastId;

    event Drafted(
        uint256 indexed tokenId,
        bytes32 indexed documentHash,
        address indexed creditor,
        address debtor,
        uint128 faceValue,
        bytes3 currency,
        uint64 dueDate,
        address drafter
    );
    event Acknowledged(uint256 indexed tokenId, address indexed debtor, bool bySignature, uint64 timestamp);
    event Cancelled(uint256 indexed tokenId, address indexed by, uint64 timestamp);
    event Disputed(uint256 indexed tokenId, address indexed debtor, bytes32 reasonHash, uint64 timestamp);
    event DisputeResolved(uint256 indexed tokenId, address indexed arbiter, State outcome, uint64 timestamp);
    event Financed(
        uint256 indexed tokenId,
        address indexed from,
        address indexed financier,
        uint128 advance,
        uint16 discountBps,
        uint64 timestamp,
        uint256 index
    );
    event Split(uint256 indexed tokenId, address indexed holder, uint256[] partIds, uint128[] amounts);
    event Paid(
        uint256 indexed tokenId,
        address indexed payer,
        address indexed holder,
        uint128 amount,
        uint128 totalPaid,
        uint64 timestamp
    );
    event Settled(uint256 indexed tokenId, uint64 paidAt, uint32 daysPastDue);
    event Defaulted(uint256 indexed tokenId, uint128 outstanding, uint64 timestamp);
    event SettlementTokenSet(bytes3 indexed currency, address token, uint96 scale);
    event BridgeVaultSet(address indexed vault, bool enabled);
    event GracePeriodSet(uint64 gracePeriod);

    error DocumentAlreadyTokenized(bytes32 documentHash, uint256 tokenId);
    error InvalidFinancing(string field);
    error UnknownReceivable(uint256 tokenId);
    error ZeroAdmin();
    error NotCreditor(address caller);
    error NotDebtor(uint256 tokenId, address caller);
    error NotHolder(uint256 tokenId, address caller);
    // the state a transition or transfer found (one error per state)
    error ReceivableNotAcknowledged(uint256 tokenId);
    error ReceivableAlreadyAcknowledged(uint256 tokenId);
    error ReceivableIsCancelled(uint256 tokenId);
    error ReceivableIsDisputed(uint256 tokenId);
    error ReceivableIsSettled(uint256 tokenId);
    error ReceivableIsDefaulted(uint256 tokenId);
    error ReceivableIsSplit(uint256 tokenId);
    error SignatureExpired(uint256 deadline);
    error BadAcknowledgementSignature(uint256 tokenId, address debtor);
    error BadResolution(State outcome);
    error BadDiscount(uint16 discountBps);
    error TooFewParts(uint256 count);
    error TooManyParts(uint256 count);
    error ZeroPart(uint256 index);
    error PartsDoNotSum(uint256 tokenId, uint256 sum, uint128 outstanding);
    error BadPaymentAmount(uint256 tokenId, uint128 amount, uint128 outstanding);
    error NoSettlementToken(bytes3 currency);
    error NotDue(uint256 tokenId, uint64 dueDate);
    error GraceNotOver(uint256 tokenId, uint256 defaultableAt);
    error ZeroAddress();

    constructor(string memory name_, string memory symbol_, address admin)
        ERC721(name_, symbol_)
        EIP712("xgate Receivable", "1")
    {
        if (admin == address(0)) revert ZeroAdmin();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        gracePeriod = 30 days;
        emit GracePeriodSet(30 days);
    }

    // -- admin --------------------------------------------------------------------------------

    /// @notice The settlement token of `currency`; `scale` = its base units per minor unit
    /// (a 6-decimal token for CNY fen: 10**4). A zero token removes it.
    function setSettlementToken(bytes3 currency, IERC20 token, uint96 scale) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!isCurrencyCode(currency)) revert InvalidFinancing("currency");
        if (address(token) != address(0) && scale == 0) revert InvalidFinancing("scale");
        settlementAssetOf[currency] = SettlementAsset(token, scale);
        emit SettlementTokenSet(currency, address(token), scale);
    }

    function setBridgeVault(address vault, bool enabled) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (vault == address(0)) revert ZeroAddress();
        isBridgeVault[vault] = enabled;
        emit BridgeVaultSet(vault, enabled);
    }

    function setGracePeriod(uint64 seconds_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        gracePeriod = seconds_;
        emit GracePeriodSet(seconds_);
    }

    // -- draft, acknowledge, cancel, dispute -----------------------------------------------------

    /// @notice Draft a receivable: minted to `f.creditor` in state Drafted. The caller is the
    /// creditor or an ISSUER_ROLE originator acting for it. Returns the token id.
    function draft(Financing calldata f) external returns (uint256 tokenId) {
        if (msg.sender != f.creditor && !hasRole(ISSUER_ROLE, msg.sender)) revert NotCreditor(msg.sender);
        if (f.documentHash == bytes32(0)) revert InvalidFinancing("documentHash");
        uint256 existing = tokenOfDocument[f.documentHash];
        if (existing != 0) revert DocumentAlreadyTokenized(f.documentHash, existing);
        if (f.debtor == address(0)) revert InvalidFinancing("debtor");
        if (f.creditor == address(0)) revert InvalidFinancing("creditor");
        if (f.debtor == f.creditor) revert InvalidFinancing("debtor");
        if (f.faceValue == 0) revert InvalidFinancing("faceValue");
        if (!isCurrencyCode(f.currency)) revert InvalidFinancing("currency");
        if (f.dueDate <= block.timestamp) revert InvalidFinancing("dueDate");
        tokenId = ++_lastId;
        tokenOfDocument[f.documentHash] = tokenId;
        _financing[tokenId] = f;
        Record storage r = _records[tokenId];
        r.state = State.Drafted;
        r.draftedAt = uint64(block.timestamp);
        _mint(f.creditor, tokenId);
        emit Drafted(tokenId, f.documentHash, f.creditor, f.debtor, f.faceValue, f.currency, f.dueDate, msg.sender);
    }

    /// @notice The debtor acknowledges the debt: the receivable becomes financeable.
    function acknowledge(uint256 tokenId) external {
        Record storage r = _expect(tokenId, State.Drafted);
        address debtor = _financing[tokenId].debtor;
        if (msg.sender != debtor) revert NotDebtor(tokenId, msg.sender);
        _useNonce(debtor); // an acknowledgement signed for this token is spent as well
        _acknowledge(tokenId, r, debtor, false);
    }

    /// @notice Acknowledge with the debtor's EIP-712 `Acknowledgement` signature (an EOA's or an
    /// ERC-1271 wallet's), submitted by anyone (usually the creditor).
    function acknowledgeBySig(uint256 tokenId, uint256 deadline, bytes calldata signature) external {
        Record storage r = _expect(tokenId, State.Drafted);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        address debtor = _financing[tokenId].debtor;
        bytes32 digest = _acknowledgementDigest(tokenId, _useNonce(debtor), deadline);
        if (!SignatureChecker.isValidSignatureNow(debtor, digest, signature)) {
            revert BadAcknowledgementSignature(tokenId, debtor);
        }
        _acknowledge(tokenId, r, debtor, true);
    }

    /// @notice The EIP-712 digest an acknowledgement signature signs (for off-chain checks).
    function acknowledgementDigest(uint256 tokenId, uint256 nonce, uint256 deadline) external view returns (bytes32) {
        return _acknowledgementDigest(tokenId, nonce, deadline);
    }

    /// @notice The creditor withdraws a draft (never after acknowledgement: see the contract note).
    function cancel(uint256 tokenId) external {
        Record storage r = _expect(tokenId, State.Drafted);
        if (msg.sender != _financing[tokenId].creditor) revert NotCreditor(msg.sender);
        r.state = State.Cancelled;
        r.closedAt = uint64(block.timestamp);
        emit Cancelled(tokenId, msg.sender, uint64(block.timestamp));
    }

    /// @notice The debtor disputes an acknowledged, unsettled receivable: no transfer, payment,
    /// split or default until the arbiter resolves it.
    function dispute(uint256 tokenId, bytes32 reasonHash) external {
        Record storage r = _expect(tokenId, State.Acknowledged);
        if (msg.sender != _financing[tokenId].debtor) revert NotDebtor(tokenId, msg.sender);
        r.state = State.Disputed;
        r.disputeReason = reasonHash;
        emit Disputed(tokenId, msg.sender, reasonHash, uint64(block.timestamp));
    }

    /// @notice The arbiter ends a dispute: back to Acknowledged, or Cancelled.
    function resolveDispute(uint256 tokenId, State outcome) external onlyRole(ARBITER_ROLE) {
        Record storage r = _expect(tokenId, State.Disputed);
        if (outcome != State.Acknowledged && outcome != State.Cancelled) revert BadResolution(outcome);
        r.state = outcome;
        if (outcome == State.Cancelled) r.closedAt = uint64(block.timestamp);
        emit DisputeResolved(tokenId, msg.sender, outcome, uint64(block.timestamp));
    }

    // -- financing and split -------------------------------------------------------------------

    /// @notice Assign the claim to `to` (the financier) and record the financing it carried.
    /// The caller is the holder or approved, as for `transferFrom`.
    function assignWithFinancing(address to, uint256 tokenId, uint128 advanceAmount, uint16 discountBps) external {
        if (discountBps > MAX_BPS) revert BadDiscount(discountBps);
        if (to == address(0)) revert ERC721InvalidReceiver(address(0));
        // checks approval (ERC721NonexistentToken for a token never minted) and the state
        address from = _update(to, tokenId, msg.sender);
        FinancingRecord[] storage list = _financings[tokenId];
        list.push(FinancingRecord(to, advanceAmount, discountBps, uint64(block.timestamp)));
        emit Financed(tokenId, from, to, advanceAmount, discountBps, uint64(block.timestamp), list.length - 1);
    }

    /// @notice Split an acknowledged receivable into parts summing to its outstanding value.
    /// Parts are Acknowledged tokens of the holder with the parent's debtor, creditor, currency
    /// and due date, and document hash keccak256(abi.encode(parent document hash, index)).
    function split(uint256 tokenId, uint128[] calldata amounts) external returns (uint256[] memory partIds) {
        Record storage r = _expect(tokenId, State.Acknowledged);
        if (ownerOf(tokenId) != msg.sender) revert NotHolder(tokenId, msg.sender);
        uint256 n = amounts.length;
        if (n < 2) revert TooFewParts(n);
        if (n > MAX_PARTS) revert TooManyParts(n);
        Financing memory f = _financing[tokenId];
        uint128 outstanding = f.faceValue - r.paid;
        uint256 sum;
        for (uint256 i = 0; i < n; ++i) {
            if (amounts[i] == 0) revert ZeroPart(i);
            sum += amounts[i];
        }
        if (sum != outstanding) revert PartsDoNotSum(tokenId, sum, outstanding);
        r.state = State.Split;
        r.closedAt = uint64(block.timestamp);
        bytes32 parentDoc = f.documentHash;
        partIds = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = ++_lastId;
            bytes32 doc = keccak256(abi.encode(parentDoc, i));
            if (tokenOfDocument[doc] != 0) revert DocumentAlreadyTokenized(doc, tokenOfDocument[doc]);
            tokenOfDocument[doc] = id;
            f.faceValue = amounts[i];
            f.documentHash = doc;
            _financing[id] = f;
            Record storage p = _records[id];
            p.state = State.Acknowledged;
            p.draftedAt = uint64(block.timestamp);
            p.acknowledgedAt = uint64(block.timestamp);
            p.parentId = uint64(tokenId);
            _mint(msg.sender, id);
            partIds[i] = id;
        }
        emit Split(tokenId, msg.sender, partIds, amounts);
    }

    // -- payment, settlement, default ----------------------------------------------------------

    /// @notice Pay `amount` (minor units) from the caller (the debtor or anyone for it) to the
    /// holder. Fully paid: Settled. Payable while Acknowledged or Defaulted.
    function pay(uint256 tokenId, uint128 amount) external {
        _pay(tokenId, msg.sender, amount, false);
    }

    /// @notice On or after the due date, anyone (the keeper) pulls the outstanding amount from
    /// the debtor's allowance to the holder.
    function settle(uint256 tokenId) external {
        _pay(tokenId, _financing[tokenId].debtor, 0, true);
    }

    /// @notice After dueDate + gracePeriod, anyone marks an unpaid acknowledged receivable
    /// Defaulted. It stays payable (a late payment settles it; the Defaulted event remains).
    function markDefault(uint256 tokenId) external {
        Record storage r = _expect(tokenId, State.Acknowledged);
        uint256 defaultableAt = uint256(_financing[tokenId].dueDate) + gracePeriod;
        if (block.timestamp <= defaultableAt) revert GraceNotOver(tokenId, defaultableAt);
        r.state = State.Defaulted;
        r.closedAt = uint64(block.timestamp);
        emit Defaulted(tokenId, _financing[tokenId].faceValue - r.paid, uint64(block.timestamp));
    }

    // -- views ---------------------------------------------------------------------------------

    /// @inheritdoc IReceivable
    function financingOf(uint256 tokenId) external view returns (Financing memory) {
        if (_ownerOf(tokenId) == address(0)) revert UnknownReceivable(tokenId);
        return _financing[tokenId];
    }

    /// @notice The full lifecycle state of a token.
    function statusOf(uint256 tokenId) external view returns (Status memory s) {
        Record storage r = _records[tokenId];
        if (r.state == State.None) revert UnknownReceivable(tokenId);
        s.state = r.state;
        s.paid = r.paid;
        s.outstanding = _financing[tokenId].faceValue - r.paid;
        s.parentId = r.parentId;
        s.financingCount = _financings[tokenId].length;
        s.draftedAt = r.draftedAt;
        s.acknowledgedAt = r.acknowledgedAt;
        s.closedAt = r.closedAt;
        s.daysPastDue = r.daysPastDue;
        s.disputeReason = r.disputeReason;
    }

    function stateOf(uint256 tokenId) external view returns (State) {
        return _records[tokenId].state;
    }

    /// @notice The `index`-th financing record of a token (0 = the first financed transfer).
    function financingRecord(uint256 tokenId, uint256 index) external view returns (FinancingRecord memory) {
        return _financings[tokenId][index];
    }

    /// @notice How many receivables were drafted or split off (the highest token id).
    function totalTokenized() external view returns (uint256) {
        return _lastId;
    }

    /// @notice Three ASCII capitals, as ISO 4217 alphabetic codes are.
    function isCurrencyCode(bytes3 c) public pure returns (bool) {
        for (uint256 i = 0; i < 3; ++i) {
            if (c[i] < 0x41 || c[i] > 0x5a) return false;
        }
        return true;
    }

    function supportsInterface(bytes4 interfaceId) public view override(ERC721, AccessControl) returns (bool) {
        return interfaceId == type(IReceivable).interfaceId || interfaceId == type(IFinanceable).interfaceId
            || super.supportsInterface(interfaceId);
    }

    // -- internals -----------------------------------------------------------------------------

    /// @dev Transfers only while Acknowledged (mint, burn and releases by a bridge vault always).
    function _update(address to, uint256 tokenId, address auth) internal override returns (address) {
        address from = _ownerOf(tokenId);
        if (from != address(0) && to != address(0)) {
            // the state first: an acknowledged token (nearly every transfer) never needs the
            // vault lookup, a cold read of its own
            State s = _records[tokenId].state;
            if (s != State.Acknowledged && !isBridgeVault[from]) _revertState(tokenId, s);
        }
        return super._update(to, tokenId, auth);
    }

    function _acknowledgementDigest(uint256 tokenId, uint256 nonce, uint256 deadline) private view returns (bytes32) {
        Financing storage f = _financing[tokenId];
        return _hashTypedDataV4(
            keccak256(
                abi.encode(ACKNOWLEDGEMENT_TYPEHASH, tokenId, f.documentHash, f.faceValue, f.dueDate, nonce, deadline)
            )
        );
    }

    function _acknowledge(uint256 tokenId, Record storage r, address debtor, bool bySignature) private {
        r.state = State.Acknowledged;
        r.acknowledgedAt = uint64(block.timestamp);
        emit Acknowledged(tokenId, debtor, bySignature, uint64(block.timestamp));
    }

    /// @dev `settle`: amount 0 = everything outstanding, only from the due date.
    function _pay(uint256 tokenId, address payer, uint128 amount, bool settling) private {
        Record storage r = _records[tokenId];
        {
            State s = r.state;
            if (s != State.Acknowledged && s != State.Defaulted) _revertState(tokenId, s);
        }
        Financing storage f = _financing[tokenId];
        uint64 due = f.dueDate;
        if (settling && block.timestamp < due) revert NotDue(tokenId, due);
        {
            uint128 outstanding = f.faceValue - r.paid;
            if (settling) amount = outstanding;
            else if (amount == 0 || amount > outstanding) revert BadPaymentAmount(tokenId, amount, outstanding);
        }
        address holder = ownerOf(tokenId);
        SettlementAsset memory asset = settlementAssetOf[f.currency];
        if (address(asset.token) == address(0)) revert NoSettlementToken(f.currency);
        uint128 total = r.paid + amount;
        r.paid = total;
        uint64 now_ = uint64(block.timestamp);
        emit Paid(tokenId, payer, holder, amount, total, now_);
        bool settled = total == f.faceValue;
        if (settled) {
            uint32 late = now_ > due ? uint32((now_ - due) / 1 days) : 0;
            r.state = State.Settled;
            r.closedAt = now_;
            r.daysPastDue = late;
            emit Settled(tokenId, now_, late);
        }
        uint256 value = uint256(amount) * asset.scale;
        asset.token.safeTransferFrom(payer, holder, value);
        if (isBridgeVault[holder]) {
            // settled: this payment made it Settled (above); a private copy could not tell
            IPaymentForwarder(holder).forwardPayment(tokenId, address(asset.token), value, total, settled);
        }
    }

    function _expect(uint256 tokenId, State expected) private view returns (Record storage r) {
        r = _records[tokenId];
        if (r.state != expected) _revertState(tokenId, r.state);
    }

    function _revertState(uint256 tokenId, State s) private pure {
        if (s == State.None) revert UnknownReceivable(tokenId);
        if (s == State.Drafted) revert ReceivableNotAcknowledged(tokenId);
        if (s == State.Acknowledged) revert ReceivableAlreadyAcknowledged(tokenId);
        if (s == State.Cancelled) revert ReceivableIsCancelled(tokenId);
        if (s == State.Disputed) revert ReceivableIsDisputed(tokenId);
        if (s == State.Settled) revert ReceivableIsSettled(tokenId);
        if (s == State.Defaulted) revert ReceivableIsDefaulted(tokenId);
        revert ReceivableIsSplit(tokenId);
    }
}
