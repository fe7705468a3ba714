// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IHeaderOracle} from "../interfaces/IHeaderOracle.sol";
import {RLPReader} from "../lib/RLPReader.sol";

/// @title QbftLightClient: verifies Besu QBFT consortium headers on a public chain.
/// @notice Same rules as adapters/lightclient/qbft.py (docs/light-client.md):
///  - the header is the plain Ethereum header RLP with 15/16/17/20/21 fields, strictly encoded
///    (sizes, canonical integers), mixHash = the BFT constant, difficulty 1, no ommers,
///    5000 <= gasLimit < 2^63 and gasUsed <= gasLimit (Besu GasLimitRangeAndDeltaValidationRule,
///    GasUsageValidationRule), coinbase in the listed validators;
///  - extraData = RLP([vanity, [validators, sorted], vote, round < 2^31, [seals]]) (Besu reads
///    the round into a signed int; vanity and nonce are free, as in Besu);
///  - block hash = keccak(header with extraData round 0 and no seals); commit digest =
///    keccak(header with the real round and no seals); each seal (r||s||v, v in {0,1}, low s)
///    is ecrecovered over the digest; signers must be distinct members of the header's listed
///    validator set, at least ceil(2n/3) of them.
/// Trust:
///  - `submitHeader`, same set: a later header listing the trusted set with its quorum (any gap;
///    the child of the latest header must name it as parent), while the latest header is
///    younger than the trusting period and the header no further ahead than the clock drift.
///  - `updateValidatorSet`, changed set: the header's seals, together with those of the
///    parent-linked descendants given with it (each sealed by a quorum of its own listed set),
///    must come from at least `trustThreshold(n)` distinct members of the trusted set (default
///    ceil(2n/3), never n/3 or fewer): the client never accepts a set the consortium itself could
///    not install. A removal whose smaller quorum falls short is carried by such a run: an honest
///    validator that seals a later block vouches for its ancestors. Bigger changes are followed
///    through intermediate headers (the relayer bisects). The trusted set is kept as the hash of
///    its RLP list; `updateValidatorSet` takes the list itself from calldata.
///  - Older headers stay acceptable after a set change: `submitHeader` accepts a header at or
///    below the latest one if it lists the set trusted at its height (the epoch history of set
///    hashes, each valid until a trusting period after it was replaced) with its quorum, and
///    `submitAncestors` accepts one linked by parentHash to an accepted header (hashing only).
///  - Misbehaviour: anyone may submit two headers the client would accept (or has accepted)
///    that sign two blocks at one height, or whose timestamps decrease with height. The client
///    then freezes: no new headers, and the oracle views revert, so no delivery proceeds.
///  - Governance (a TimelockController in deployments: every change is time-locked) recovers a
///    frozen or expired client with `reanchor`, and may revoke headers accepted before a freeze.
/// Validator-contract mode (empty validator list) is not supported, as in the Python client.
/// Arithmetic on calldata offsets and lengths is unchecked: they are bounded by the calldata
/// size (< 2**32), and every bound is compared before use.
contract QbftLightClient is IHeaderOracle {
    // BftHelpers/QbftBlockHeaderValidationRulesetFactory constants.
    bytes32 internal constant BFT_MIX_HASH = 0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365;
    bytes32 internal constant EMPTY_OMMERS_HASH = 0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347;
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 internal constant MAX_VALIDATORS = 256; // one bit each in the signer bitmap
    uint256 internal constant NOT_FOUND = type(uint256).max;
    uint256 internal constant MIN_GAS_LIMIT = 5000;
    uint256 internal constant MAX_GAS_LIMIT = 2 ** 63 - 1;
    uint256 internal constant MAX_ROUND = 2 ** 31 - 1;
    uint8 public constant DOUBLE_SIGN = 1;
    uint8 public constant TIMESTAMP_ORDER = 2;

    /// @dev Per field index 0..20: 0x20/0x14/0x08 = exact size, 0x7f = 256 bytes (bloom),
    /// 0x80|k = canonical integer of at most k bytes, 0x00 = free (extraData).
    bytes32 internal constant FIELD_RULES = 0x2020142020207fa088888888002008a020888820200000000000000000000000;

    uint256 public immutable sourceChainId;
    /// @notice Trust level for set changes: trustNumerator / trustDenominator of the trusted set.
    uint256 public immutable trustNumerator;
    uint256 public immutable trustDenominator;

    struct TrustParams {
        uint8 trustNumerator; // trust level in [1/3, 1], default 2/3
        uint8 trustDenominator;
        uint32 trustingPeriod; // seconds a trusted header may authorise new ones
        uint32 maxClockDrift; // seconds a header may be ahead of this chain's clock
    }

    struct Roots {
        bytes32 receiptsRoot;
        bytes32 stateRoot;
    }

    /// @dev A validator set the client trusted from `fromHeight` until the next epoch's header
    /// (at `endedAt`, its timestamp; 0 for the current epoch).
    struct Epoch {
        bytes32 setHash;
        uint64 fromHeight;
        uint64 endedAt;
    }

    // One slot: everything a forward header reads besides the set hash and the parent.
    uint64 public latestNumber;
    uint64 public latestTimestamp;
    uint32 public trustingPeriod;
    uint32 public maxClockDrift;
    bool public frozen;

    bytes32 public latestHash;
    /// @dev keccak256 of the RLP list of the trusted validators, exactly as extraData lists it.
    bytes32 public validatorSetHash;
    /// @notice The anchor header (trusted by configuration, its roots unknown): ancestry proofs
    /// may start from it.
    bytes32 public anchorHash;
    address public governance;
    Epoch[] private _epochs;
    mapping(bytes32 blockHash => Roots) private _roots;

    event HeaderAccepted(uint256 indexed number, bytes32 indexed blockHash, bytes32 receiptsRoot, bytes32 stateRoot);
    event ValidatorSetChanged(uint256 indexed number, bytes32 indexed blockHash, address[] validators);
    event ClientFrozen(uint8 indexed kind, uint256 numberA, bytes32 hashA, uint256 numberB, bytes32 hashB);
    event Reanchored(uint256 indexed number, bytes32 indexed blockHash, address[] validators);
    event HeaderRevoked(bytes32 indexed blockHash);
    event TrustingPeriodChanged(uint32 trustingPeriod, uint32 maxClockDrift);
    event GovernanceChanged(address governance);

    error HeaderMalformed(uint256 field); // field index; 255 = the list itself
    error HeaderFieldCount(uint256 count);
    error NotQbftHeader(uint256 field); // mixHash (13), difficulty (7), ommers (1), gasLimit (9), gasUsed (10)
    error ExtraDataMalformed(uint256 item); // 0 vanity .. 4 seals, 5 = the list
    error ValidatorSetInvalid(); // empty, unsorted, duplicated, > 256 or not 20-byte addresses
    error CoinbaseNotValidator(address coinbase);
    error InvalidSeal(uint256 index); // malformed, bad v, r/s zero or out of range, high s
    error SealerNotValidator(uint256 index, address signer);
    error DuplicateSeal(uint256 index, address signer);
    error TooFewSeals(uint256 got, uint256 needed);
    error TooFewTrustedSeals(uint256 got, uint256 needed);
    error WrongParent(bytes32 parentHash, bytes32 latestHash);
    error TimestampBeforeLatest(uint256 timestamp, uint256 latestTimestamp);
    error HeaderAlreadyAccepted(bytes32 blockHash);
    error SetChangeNeedsTrustedSet(uint256 number); // a changed set goes through updateValidatorSet
    error NotTrustedSetAt(uint256 number); // below the anchor, or not the set of its epoch
    error TrustExpired(uint256 trustedSince, uint256 trustingPeriod);
    error HeaderFromFuture(uint256 timestamp, uint256 maxTimestamp);
    error NotNewer(uint256 number, uint256 latestNumber);
    error TrustedSetMismatch();
    error SetUnchanged();
    error RunNotLinked(uint256 index);
    error AncestryBroken(uint256 index);
    error NoMisbehaviour();
    error ClientIsFrozen();
    error NotGovernance(address caller);
    error TrustParamsInvalid();

    /// @dev Parsed header: absolute calldata offsets and the fields the rules need.
    struct Hdr {
        uint256 listStart; // header list payload
        uint256 listEnd;
        uint256 extraHdr; // extraData item (header byte) .. stop
        uint256 extraStop;
        uint256 headStart; // vanity .. vote items, raw: shared by every hashing variant
        uint256 headStop;
        uint256 valHdr; // validators list item .. stop, and its payload start
        uint256 valStop;
        uint256 valPayload;
        uint256 roundHdr; // round item .. stop
        uint256 roundStop;
        uint256 sealsStart; // seals list payload
        uint256 sealsStop;
        bytes32 parentHash;
        address coinbase;
        bytes32 stateRoot;
        bytes32 receiptsRoot;
        uint256 number;
        uint256 timestamp;
        uint256 gasLimit;
        uint256 gasUsed;
    }

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        _;
    }

    modifier notFrozen() {
        if (frozen) revert ClientIsFrozen();
        _;
    }

    /// @param sourceChainId_ chain id of the consortium chain whose headers this client accepts
    /// @param initialValidators the validator set listed in the trusted header, sorted ascending
    /// @param trustedNumber number of the trusted header (e.g. 0 for genesis)
    /// @param trustedHash QBFT block hash of the trusted header
    /// @param trustedTimestamp its timestamp (the trusting period runs from it)
    /// @param governance_ the only address that may re-anchor, revoke and change the periods
    /// @param params trust level, trusting period and clock drift
    constructor(
        uint256 sourceChainId_,
        address[] memory initialValidators,
        uint64 trustedNumber,
        bytes32 trustedHash,
        uint64 trustedTimestamp,
        address governance_,
        TrustParams memory params
    ) {
        uint256 num = params.trustNumerator;
        uint256 den = params.trustDenominator;
        if (den == 0 || 3 * num < den || num > den) revert TrustParamsInvalid();
        sourceChainId = sourceChainId_;
        trustNumerator = num;
        trustDenominator = den;
        governance = governance_;
        _setPeriods(params.trustingPeriod, params.maxClockDrift);
        _anchor(initialValidators, trustedNumber, trustedHash, trustedTimestamp);
    }

    // --- views ------------------------------------------------------------------------------

    /// @inheritdoc IHeaderOracle
    function receiptsRootOf(uint256 chainId, bytes32 blockHash) external view returns (bytes32 root) {
        root = _roots[blockHash].receiptsRoot;
        if (chainId != sourceChainId || root == 0) revert UnknownHeader(chainId, blockHash);
        if (frozen) revert ClientIsFrozen();
    }

    /// @inheritdoc IHeaderOracle
    function stateRootOf(uint256 chainId, bytes32 blockHash) external view returns (bytes32 root) {
        Roots storage r = _roots[blockHash];
        if (chainId != sourceChainId || r.receiptsRoot == 0) revert UnknownHeader(chainId, blockHash);
        if (frozen) revert ClientIsFrozen();
        return r.stateRoot;
    }

    function isAccepted(bytes32 blockHash) external view returns (bool) {
        return _roots[blockHash].receiptsRoot != 0;
    }

    /// @notice Distinct trusted validators a set change needs when `n` are trusted.
    function trustThreshold(uint256 n) public view returns (uint256) {
        uint256 level = (trustNumerator * n + trustDenominator - 1) / trustDenominator;
        uint256 floor = n / 3 + 1;
        return level > floor ? level : floor;
    }

    function epochCount() external view returns (uint256) {
        return _epochs.length;
    }

    function epochAt(uint256 index) external view returns (Epoch memory) {
        return _epochs[index];
    }

    // --- submission -------------------------------------------------------------------------

    /// @notice Verify a sealed QBFT header that lists the trusted set (or, at or below the latest
    /// header, the set trusted at its height) and store its receipts and state roots. Returns
    /// its QBFT block hash.
    function submitHeader(bytes calldata headerRlp) external notFrozen returns (bytes32 blockHash) {
        Hdr memory h = _parse(headerRlp);
        bytes32 digest;
        (blockHash, digest) = _hashes(h);
        uint256 n = (h.valStop - h.valPayload) / 21;
        bytes32 listHash = RLPReader.keccakCalldata(h.valHdr, h.valStop - h.valHdr);
        uint256 latest = latestNumber;
        if (h.number <= latest) {
            if (_roots[blockHash].receiptsRoot != 0) revert HeaderAlreadyAccepted(blockHash);
            _requireEpochSet(h.number, listHash);
        } else {
            if (listHash != validatorSetHash) revert SetChangeNeedsTrustedSet(h.number);
            _requireForward(h, latest);
        }
        _checkCoinbase(h, n);
        _requireQuorum(_verifySeals(h, digest, n), n);
        if (h.number > latest) _advance(h, blockHash);
        _store(h, blockHash);
    }

    /// @notice Follow a validator-set change: `run[0]` lists a new set and becomes the latest
    /// header; `run[1..]` are its descendants, whose seals vouch for it. `trustedSet` is the RLP
    /// list of the trusted validators (the preimage of `validatorSetHash`).
    function updateValidatorSet(bytes calldata trustedSet, bytes[] calldata run)
        external
        notFrozen
        returns (bytes32 blockHash)
    {
        if (keccak256(trustedSet) != validatorSetHash) revert TrustedSetMismatch();
        uint256 tPayload;
        uint256 tStop;
        assembly ("memory-safe") {
            tPayload := trustedSet.offset
        }
        (tPayload, tStop) = RLPReader.list(tPayload, tPayload + trustedSet.length);
        uint256 nTrusted = (tStop - tPayload) / 21;
        if (run.length == 0) revert RunNotLinked(0);
        Hdr memory h = _parse(run[0]);
        _requireForward(h, latestNumber);
        bytes32 listHash = RLPReader.keccakCalldata(h.valHdr, h.valStop - h.valHdr);
        if (listHash == validatorSetHash) revert SetUnchanged();
        uint256 vouching;
        (blockHash, vouching) = _sealedBy(h, tPayload, nTrusted);
        bytes32 prevHash = blockHash;
        uint256 prevNumber = h.number;
        for (uint256 j = 1; j < run.length; ++j) {
            Hdr memory d = _parse(run[j]);
            if (d.number != prevNumber + 1 || d.parentHash != prevHash) revert RunNotLinked(j);
            uint256 bits;
            (prevHash, bits) = _sealedBy(d, tPayload, nTrusted);
            vouching |= bits;
            prevNumber = d.number;
        }
        uint256 got = _popcount(vouching);
        uint256 needed = trustThreshold(nTrusted);
        if (got < needed) revert TooFewTrustedSeals(got, needed);
        _epochs[_epochs.length - 1].endedAt = uint64(h.timestamp);
        _epochs.push(Epoch(listHash, uint64(h.number), 0));
        validatorSetHash = listHash;
        _advance(h, blockHash);
        _store(h, blockHash);
        emit ValidatorSetChanged(h.number, blockHash, _listed(h));
    }

    /// @notice Accept an older header by ancestry: `chain[0]` is an accepted header (or the
    /// anchor), each next header is the parent of the one before; the last one is stored.
    function submitAncestors(bytes[] calldata chain) external notFrozen returns (bytes32 blockHash) {
        if (chain.length < 2) revert AncestryBroken(chain.length);
        Hdr memory h = _parse(chain[0]);
        _checkSealShapes(h);
        (blockHash,) = _hashes(h);
        if (_roots[blockHash].receiptsRoot == 0 && blockHash != anchorHash) revert AncestryBroken(0);
        for (uint256 j = 1; j < chain.length; ++j) {
            bytes32 expected = h.parentHash;
            h = _parse(chain[j]);
            _checkSealShapes(h);
            (blockHash,) = _hashes(h);
            if (blockHash != expected) revert AncestryBroken(j);
        }
        if (_roots[blockHash].receiptsRoot != 0) revert HeaderAlreadyAccepted(blockHash);
        _store(h, blockHash);
    }

    /// @notice Evidence that the trusted validators misbehaved: two headers, each accepted or
    /// acceptable (a quorum of the set trusted at its height), for one height with different
    /// hashes, or with timestamps that decrease as the height grows. Freezes the client.
    function submitMisbehaviour(bytes calldata headerA, bytes calldata headerB) external notFrozen {
        Hdr memory a = _parse(headerA);
        Hdr memory b = _parse(headerB);
        bytes32 hashA = _requireEvidence(a);
        bytes32 hashB = _requireEvidence(b);
        uint8 kind;
        if (a.number == b.number) {
            if (hashA != hashB) kind = DOUBLE_SIGN;
        } else {
            (uint256 lowTime, uint256 highTime) = a.number < b.number ? (a.timestamp, b.timestamp) : (b.timestamp, a.timestamp);
            // Equal timestamps are no evidence: Besu allows sub-second block periods.
            if (lowTime > highTime) kind = TIMESTAMP_ORDER;
        }
        if (kind == 0) revert NoMisbehaviour();
        frozen = true;
        emit ClientFrozen(kind, a.number, hashA, b.number, hashB);
    }

    // --- governance (time-locked by the TimelockController that holds it) --------------------

    /// @notice Recover a frozen or expired client: trust a new anchor (its epoch history starts
    /// again there) and forget headers accepted from the misbehaving validators.
    function reanchor(
        address[] calldata validators_,
        uint64 number,
        bytes32 blockHash,
        uint64 timestamp,
        bytes32[] calldata revoked
    ) external onlyGovernance {
        delete _epochs;
        _anchor(validators_, number, blockHash, timestamp);
        frozen = false;
        for (uint256 i = 0; i < revoked.length; ++i) {
            delete _roots[revoked[i]];
            emit HeaderRevoked(revoked[i]);
        }
        emit Reanchored(number, blockHash, validators_);
    }

    function setTrustingPeriod(uint32 trustingPeriod_, uint32 maxClockDrift_) external onlyGovernance {
        _setPeriods(trustingPeriod_, maxClockDrift_);
    }

    function setGovernance(address governance_) external onlyGovernance {
        governance = governance_;
        emit GovernanceChanged(governance_);
    }

    // --- rules ------------------------------------------------------------------------------

    function _setPeriods(uint32 trustingPeriod_, uint32 maxClockDrift_) private {
        if (trustingPeriod_ == 0) revert TrustParamsInvalid();
        trustingPeriod = trustingPeriod_;
        maxClockDrift = maxClockDrift_;
        emit TrustingPeriodChanged(trustingPeriod_, maxClockDrift_);
    }

    function _anchor(address[] memory set, uint64 number, bytes32 blockHash, uint64 timestamp) private {
        bytes32 setHash = _hashSet(set);
        validatorSetHash = setHash;
        _epochs.push(Epoch(setHash, number, 0));
        latestNumber = number;
        latestTimestamp = timestamp;
        latestHash = blockHash;
        anchorHash = blockHash;
    }

    /// @dev Ordering and time rules for a header above the latest one; the trusted header must
    /// be within the trusting period.
    function _requireForward(Hdr memory h, uint256 latest) private view {
        if (h.number <= latest) revert NotNewer(h.number, latest);
        if (h.number == latest + 1 && h.parentHash != latestHash) revert WrongParent(h.parentHash, latestHash);
        uint256 since = latestTimestamp;
        if (h.timestamp < since) revert TimestampBeforeLatest(h.timestamp, since);
        _requireTrustedSince(since);
        if (h.timestamp > block.timestamp + maxClockDrift) {
            revert HeaderFromFuture(h.timestamp, block.timestamp + maxClockDrift);
        }
    }

    /// @dev A header at or below the latest one (or evidence at any height) must list the set of
    /// the epoch it falls in, and that epoch must not have ended more than a trusting period ago
    /// (the current one, which also covers heights above the latest header: the latest
    /// header's age).
    function _requireEpochSet(uint256 number, bytes32 listHash) private view {
        uint256 count = _epochs.length;
        uint256 lo;
        uint256 hi = count;
        while (lo < hi) {
            uint256 mid = (lo + hi) >> 1;
            if (_epochs[mid].fromHeight <= number) lo = mid + 1;
            else hi = mid;
        }
        if (lo == 0) revert NotTrustedSetAt(number); // below the anchor
        Epoch memory e = _epochs[lo - 1];
        if (e.setHash != listHash) revert NotTrustedSetAt(number);
        _requireTrustedSince(lo == count ? latestTimestamp : e.endedAt);
    }

    /// @dev Trust that started (or ended) at `since` may still authorise headers.
    function _requireTrustedSince(uint256 since) private view {
        if (block.timestamp >= since + trustingPeriod) revert TrustExpired(since, trustingPeriod);
    }

    /// @dev A misbehaviour header: already accepted, or sealed by a quorum of the set trusted at
    /// its height (the current set above the latest header). Returns its block hash.
    function _requireEvidence(Hdr memory h) private view returns (bytes32 blockHash) {
        bytes32 digest;
        (blockHash, digest) = _hashes(h);
        if (_roots[blockHash].receiptsRoot != 0) {
            // Below the anchor, governance has already judged the history (a re-anchor that
            // left an old conflicting pair stored must not let anyone freeze the client again).
            if (h.number < _epochs[0].fromHeight) revert NotTrustedSetAt(h.number);
            return blockHash;
        }
        _requireEpochSet(h.number, RLPReader.keccakCalldata(h.valHdr, h.valStop - h.valHdr));
        uint256 n = (h.valStop - h.valPayload) / 21;
        _checkCoinbase(h, n);
        _requireQuorum(_verifySeals(h, digest, n), n);
    }

    /// @dev A header sealed by a quorum of its own (structurally valid) list; returns its hash and
    /// the bitmap, by index in the trusted list, of the trusted validators among its signers.
    function _sealedBy(Hdr memory h, uint256 tPayload, uint256 nTrusted)
        private
        pure
        returns (bytes32 blockHash, uint256 trustedBits)
    {
        bytes32 digest;
        (blockHash, digest) = _hashes(h);
        uint256 n = (h.valStop - h.valPayload) / 21;
        _checkValidatorList(h, n);
        _checkCoinbase(h, n);
        uint256 signers = _verifySeals(h, digest, n);
        _requireQuorum(signers, n);
        for (uint256 i = 0; i < n; ++i) {
            if (signers & (1 << i) == 0) continue;
            uint256 at = _indexOf(tPayload, nTrusted, _validatorAt(h.valPayload, i));
            if (at != NOT_FOUND) trustedBits |= 1 << at;
        }
    }

    function _advance(Hdr memory h, bytes32 blockHash) private {
        latestNumber = uint64(h.number);
        latestTimestamp = uint64(h.timestamp);
        latestHash = blockHash;
    }

    function _store(Hdr memory h, bytes32 blockHash) private {
        _roots[blockHash] = Roots(h.receiptsRoot, h.stateRoot);
        emit HeaderAccepted(h.number, blockHash, h.receiptsRoot, h.stateRoot);
    }

    function _listed(Hdr memory h) private pure returns (address[] memory listed) {
        uint256 n = (h.valStop - h.valPayload) / 21;
        listed = new address[](n);
        for (uint256 i = 0; i < n; ++i) {
            listed[i] = _validatorAt(h.valPayload, i);
        }
    }

    /// @dev keccak256 of the RLP list of a sorted validator set (as extraData lists it).
    function _hashSet(address[] memory set) private pure returns (bytes32) {
        uint256 n = set.length;
        if (n == 0 || n > MAX_VALIDATORS) revert ValidatorSetInvalid();
        bytes memory encoded;
        for (uint256 i = 0; i < n; ++i) {
            if (i > 0 && set[i] <= set[i - 1]) revert ValidatorSetInvalid();
            encoded = bytes.concat(encoded, bytes1(0x94), bytes20(set[i]));
        }
        return keccak256(bytes.concat(_listPrefix(encoded.length), encoded));
    }

    function _listPrefix(uint256 len) private pure returns (bytes memory) {
        if (len < 56) return abi.encodePacked(uint8(0xc0 + len));
        uint256 k = _byteLen(len);
        return abi.encodePacked(uint8(0xf7 + k), _bigEndian(len, k));
    }

    function _bigEndian(uint256 v, uint256 k) private pure returns (bytes memory out) {
        out = new bytes(k);
        for (uint256 i = 0; i < k; ++i) {
            out[k - 1 - i] = bytes1(uint8(v >> (8 * i)));
        }
    }

    /// @dev (block hash, commit digest). Genesis carries no seals and is hashed raw.
    function _hashes(Hdr memory h) private pure returns (bytes32 blockHash, bytes32 digest) {
        if (h.number == 0) {
            blockHash = _rawHash(h);
            return (blockHash, blockHash);
        }
        blockHash = _hashVariant(h, bytes32(uint256(0x80) << 248), 1); // round 0
        digest = blockHash;
        uint256 roundLen = h.roundStop - h.roundHdr;
        if (roundLen != 1 || _byteAt(h.roundHdr) != 0x80) {
            digest = _hashVariant(h, _wordAt(h.roundHdr), roundLen);
        }
    }

    function _rawHash(Hdr memory h) private pure returns (bytes32 out) {
        unchecked {
            uint256 len = h.listEnd - h.listStart;
            uint256 ptr0;
            assembly ("memory-safe") {
                ptr0 := mload(0x40)
            }
            uint256 ptr = _writePrefix(ptr0, len, 0xc0);
            uint256 start = h.listStart;
            assembly ("memory-safe") {
                calldatacopy(ptr, start, len)
                out := keccak256(ptr0, sub(add(ptr, len), ptr0))
            }
        }
    }

    // --- parsing ----------------------------------------------------------------------------

    function _parse(bytes calldata headerRlp) private pure returns (Hdr memory h) {
        unchecked {
            uint256 off;
            assembly ("memory-safe") {
                off := headerRlp.offset
            }
            uint256 end = off + headerRlp.length;
            (bool isList, uint256 p, uint256 stop) = RLPReader.item(off, end);
            if (!isList || stop != end) revert HeaderMalformed(255);
            h.listStart = p;
            h.listEnd = stop;
            uint256 i;
            for (; p < stop; ++i) {
                if (i > 20) revert HeaderFieldCount(i + 1);
                (bool fieldIsList, uint256 s, uint256 e) = RLPReader.item(p, stop);
                if (fieldIsList) revert HeaderMalformed(i);
                uint256 rule = (uint256(FIELD_RULES) >> (248 - 8 * i)) & 0xff;
                uint256 size = e - s;
                if (rule & 0x80 != 0) {
                    uint256 v = RLPReader.uintOf(s, e, rule & 0x7f);
                    if (i == 7 && v != 1) revert NotQbftHeader(7);
                    else if (i == 8) h.number = v;
                    else if (i == 9) {
                        if (v < MIN_GAS_LIMIT || v > MAX_GAS_LIMIT) revert NotQbftHeader(9);
                        h.gasLimit = v;
                    }
                    else if (i == 10) h.gasUsed = v;
                    else if (i == 11) h.timestamp = v;
                } else if (rule == 0x7f) {
                    if (size != 256) revert HeaderMalformed(i);
                } else if (rule != 0) {
                    if (size != rule) revert HeaderMalformed(i);
                    bytes32 w = _wordAt(s);
                    if (i == 0) h.parentHash = w;
                    else if (i == 1 && w != EMPTY_OMMERS_HASH) revert NotQbftHeader(1);
                    else if (i == 2) h.coinbase = address(bytes20(w));
                    else if (i == 3) h.stateRoot = w;
                    else if (i == 5) h.receiptsRoot = w;
                    else if (i == 13 && w != BFT_MIX_HASH) revert NotQbftHeader(13);
                } else {
                    h.extraHdr = p;
                    h.extraStop = e;
                    _parseExtra(h, s, e);
                }
                p = e;
            }
            if (i != 15 && i != 16 && i != 17 && i != 20 && i != 21) revert HeaderFieldCount(i);
            if (h.gasUsed > h.gasLimit) revert NotQbftHeader(10);
        }
    }

    function _parseExtra(Hdr memory h, uint256 start, uint256 stop) private pure {
        unchecked {
            (bool isList, uint256 p, uint256 end) = RLPReader.item(start, stop);
            if (!isList || end != stop) revert ExtraDataMalformed(5);
            h.headStart = p;
            bool itemIsList;
            uint256 s;
            uint256 e;
            (itemIsList,, p) = RLPReader.item(p, end); // vanity
            if (itemIsList) revert ExtraDataMalformed(0);
            h.valHdr = p;
            (itemIsList, s, e) = RLPReader.item(p, end); // validators
            if (!itemIsList) revert ExtraDataMalformed(1);
            (h.valPayload, h.valStop) = (s, e);
            (itemIsList, s, e) = RLPReader.item(e, end); // vote: [] or [recipient, 0x81ff | 0x80]
            if (!itemIsList) revert ExtraDataMalformed(2);
            uint256 voteLen = e - s;
            if (voteLen != 0) {
                bool add = voteLen == 23 && uint16(bytes2(_wordAt(s + 21))) == 0x81ff;
                bool drop = voteLen == 22 && _byteAt(s + 21) == 0x80;
                if (_byteAt(s) != 0x94 || !(add || drop)) revert ExtraDataMalformed(2);
            }
            h.headStop = e;
            h.roundHdr = e;
            (itemIsList, s, e) = RLPReader.item(e, end); // round: canonical, at most 4 bytes
            if (itemIsList) revert ExtraDataMalformed(3);
            if (e - s > 4 || RLPReader.uintOf(s, e, 4) > MAX_ROUND) revert ExtraDataMalformed(3);
            h.roundStop = e;
            (itemIsList, s, e) = RLPReader.item(e, end); // seals
            if (!itemIsList || e != end) revert ExtraDataMalformed(4);
            (h.sealsStart, h.sealsStop) = (s, e);
        }
    }

    /// @dev Structure and order of a validator list not already known to be the trusted one.
    function _checkValidatorList(Hdr memory h, uint256 n) private pure {
        unchecked {
            uint256 size = h.valStop - h.valPayload;
            if (n == 0 || n > MAX_VALIDATORS || size % 21 != 0) revert ValidatorSetInvalid();
            address prev;
            for (uint256 i = 0; i < n; ++i) {
                if (_byteAt(h.valPayload + 21 * i) != 0x94) revert ValidatorSetInvalid();
                address a = _validatorAt(h.valPayload, i);
                if (i > 0 && a <= prev) revert ValidatorSetInvalid();
                prev = a;
            }
        }
    }

    function _checkCoinbase(Hdr memory h, uint256 n) private pure {
        if (_indexOf(h.valPayload, n, h.coinbase) == NOT_FOUND) revert CoinbaseNotValidator(h.coinbase);
    }

    // --- hashing ----------------------------------------------------------------------------

    /// @dev keccak256 of the header with extraData = RLP([head..., round, []]), where `round`
    /// is the RLP item given left-aligned in `roundWord` (`roundLen` bytes). Built in scratch
    /// memory from calldata slices; nothing is allocated.
    function _hashVariant(Hdr memory h, bytes32 roundWord, uint256 roundLen) private pure returns (bytes32 out) {
        unchecked {
            uint256 headLen = h.headStop - h.headStart;
            uint256 extraPayload = headLen + roundLen + 1;
            uint256 extraList = _prefixLen(extraPayload) + extraPayload;
            uint256 extraStr = _prefixLen(extraList) + extraList;
            uint256 preLen = h.extraHdr - h.listStart;
            uint256 postLen = h.listEnd - h.extraStop;
            uint256 payload = preLen + extraStr + postLen;
            uint256 ptr0;
            assembly ("memory-safe") {
                ptr0 := mload(0x40)
            }
            uint256 ptr = _writePrefix(ptr0, payload, 0xc0);
            uint256 listStart = h.listStart;
            uint256 headStart = h.headStart;
            uint256 extraStop = h.extraStop;
            assembly ("memory-safe") {
                calldatacopy(ptr, listStart, preLen)
            }
            ptr = _writePrefix(ptr + preLen, extraList, 0x80);
            ptr = _writePrefix(ptr, extraPayload, 0xc0);
            assembly ("memory-safe") {
                calldatacopy(ptr, headStart, headLen)
                ptr := add(ptr, headLen)
                mstore(ptr, roundWord)
                ptr := add(ptr, roundLen)
                mstore8(ptr, 0xc0)
                ptr := add(ptr, 1)
                calldatacopy(ptr, extraStop, postLen)
                ptr := add(ptr, postLen)
                out := keccak256(ptr0, sub(ptr, ptr0))
            }
        }
    }

    function _prefixLen(uint256 len) private pure returns (uint256) {
        return len < 56 ? 1 : 1 + _byteLen(len);
    }

    function _byteLen(uint256 v) private pure returns (uint256 k) {
        while (v != 0) {
            ++k;
            v >>= 8;
        }
    }

    /// @dev Writes the RLP prefix for a payload of `len` bytes (base 0x80 string, 0xc0 list).
    function _writePrefix(uint256 ptr, uint256 len, uint256 base) private pure returns (uint256) {
        if (len < 56) {
            assembly ("memory-safe") {
                mstore8(ptr, add(base, len))
            }
            return ptr + 1;
        }
        uint256 k = _byteLen(len);
        assembly ("memory-safe") {
            mstore8(ptr, add(add(base, 55), k))
            mstore(add(ptr, 1), shl(sub(256, mul(8, k)), len))
        }
        return ptr + 1 + k;
    }

    // --- seals ------------------------------------------------------------------------------

    /// @dev Recovers every seal; each signer must be a distinct member of the listed set.
    /// Returns the bitmap of signers by their index in the listed set.
    function _verifySeals(Hdr memory h, bytes32 digest, uint256 n) private pure returns (uint256 bitmap) {
        unchecked {
            uint256 index;
            for (uint256 p = h.sealsStart; p < h.sealsStop; p += 67) {
                // each seal is 0xb841 || r || s || v
                if (p + 67 > h.sealsStop || uint16(bytes2(_wordAt(p))) != 0xb841) revert InvalidSeal(index);
                uint256 r = uint256(_wordAt(p + 2));
                uint256 s = uint256(_wordAt(p + 34));
                uint256 v = _byteAt(p + 66);
                // Reject bad v, zero or out-of-range r/s and high s (malleable twin of a seal).
                if (v > 1 || r == 0 || r >= SECP256K1_N || s == 0 || s > SECP256K1_N / 2) revert InvalidSeal(index);
                address signer = ecrecover(digest, uint8(v + 27), bytes32(r), bytes32(s));
                if (signer == address(0)) revert InvalidSeal(index);
                uint256 at = _indexOf(h.valPayload, n, signer);
                // A seal for another round or another block recovers a random address: lands here.
                if (at == NOT_FOUND) revert SealerNotValidator(index, signer);
                uint256 bit = 1 << at;
                if (bitmap & bit != 0) revert DuplicateSeal(index, signer);
                bitmap |= bit;
                ++index;
            }
        }
    }

    /// @dev Every seal is a 65-byte string (`0xb841 || r || s || v`), as the Python codec reads
    /// them: for headers whose seals are not verified (ancestry proofs), which hashing ignores.
    function _checkSealShapes(Hdr memory h) private pure {
        unchecked {
            uint256 index;
            for (uint256 p = h.sealsStart; p < h.sealsStop; p += 67) {
                if (p + 67 > h.sealsStop || uint16(bytes2(_wordAt(p))) != 0xb841) revert InvalidSeal(index);
                ++index;
            }
        }
    }

    function _requireQuorum(uint256 bitmap, uint256 n) private pure {
        uint256 got = _popcount(bitmap);
        uint256 needed = (2 * n + 2) / 3; // ceil(2n/3), Besu calculateRequiredValidatorQuorum
        if (got < needed) revert TooFewSeals(got, needed);
    }

    function _popcount(uint256 x) private pure returns (uint256 c) {
        while (x != 0) {
            x &= x - 1;
            ++c;
        }
    }

    // --- calldata helpers -------------------------------------------------------------------

    /// @dev Index of `a` in the sorted list of 0x94||address entries at `payload`, or NOT_FOUND.
    function _indexOf(uint256 payload, uint256 n, address a) private pure returns (uint256) {
        unchecked {
            uint256 lo;
            uint256 hi = n;
            while (lo < hi) {
                uint256 mid = (lo + hi) >> 1;
                address m = _validatorAt(payload, mid);
                if (m == a) return mid;
                if (m < a) lo = mid + 1;
                else hi = mid;
            }
            return NOT_FOUND;
        }
    }

    function _validatorAt(uint256 payload, uint256 i) private pure returns (address) {
        unchecked {
            return address(bytes20(_wordAt(payload + 21 * i + 1)));
        }
    }

    function _wordAt(uint256 at) private pure returns (bytes32 w) {
        assembly ("memory-safe") {
            w := calldataload(at)
        }
    }

    function _byteAt(uint256 at) private pure returns (uint256 b) {
        assembly ("memory-safe") {
            b := byte(0, calldataload(at))
        }
    }
}
