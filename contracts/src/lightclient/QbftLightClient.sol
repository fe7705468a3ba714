// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IHeaderOracle} from "../interfaces/IHeaderOracle.sol";
import {RLPReader} from "../lib/RLPReader.sol";

/// @title QbftLightClient: verifies Besu QBFT consortium headers on a public chain.
/// @notice Same rules as adapters/lightclient/qbft.py (docs/light-client-formats.md §1):
///  - the header is the plain Ethereum header RLP with 15/16/17/20/21 fields, strictly encoded
///    (sizes, canonical integers), mixHash = the BFT constant, difficulty 1, no ommers,
///    gasUsed <= gasLimit, coinbase in the listed validators;
///  - extraData = RLP([vanity, [validators, sorted], vote, round, [seals]]);
///  - block hash = keccak(header with extraData round 0 and no seals); commit digest =
///    keccak(header with the real round and no seals); each seal (r||s||v, v in {0,1}, low s)
///    is ecrecovered over the digest; signers must be distinct members of the header's listed
///    validator set, at least ceil(2n/3) of them;
///  - unchanged set (listed == trusted): that is all (plus the parent link for the child of the
///    latest header). Changed set: ALSO seals from more than 1/3 of the trusted set (the
///    skipping rule); the listed set then becomes the trusted set.
/// Ordering: a header above the latest one moves the client forward (any gap is allowed: the
/// skipping rule covers it). A header at or below the latest one ("backfill", e.g. an older
/// block that carries a message) is accepted only if it lists exactly the CURRENT trusted set
/// and carries its quorum; it never changes the latest header or the set. A header already
/// accepted reverts with HeaderAlreadyAccepted.
/// Validator-contract mode (empty validator list) is not supported, as in the Python client.
/// Arithmetic on calldata offsets and lengths is unchecked: they are bounded by the calldata
/// size (< 2**32), and every bound is compared before use.
/// Gas: the trusted set is kept as the hash of its RLP encoding, compared with the header's
/// list in calldata, so an unchanged set costs one SLOAD; the addresses are stored only for the
/// skipping rule.
contract QbftLightClient is IHeaderOracle {
    // BftHelpers/QbftBlockHeaderValidationRulesetFactory constants.
    bytes32 internal constant BFT_MIX_HASH = 0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365;
    bytes32 internal constant EMPTY_OMMERS_HASH = 0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347;
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 internal constant MAX_VALIDATORS = 256; // one bit each in the signer bitmap
    uint256 internal constant NOT_FOUND = type(uint256).max;

    /// @dev Per field index 0..20: 0x20/0x14/0x08 = exact size, 0x7f = 256 bytes (bloom),
    /// 0x80|k = canonical integer of at most k bytes, 0x00 = free (extraData).
    bytes32 internal constant FIELD_RULES = 0x2020142020207fa088888888002008a020888820200000000000000000000000;

    uint256 public immutable sourceChainId;

    struct Roots {
        bytes32 receiptsRoot;
        bytes32 stateRoot;
    }

    /// @dev The newest accepted header (packed in one slot) and its hash.
    uint64 public latestNumber;
    uint64 public latestTimestamp;
    bytes32 public latestHash;
    /// @dev keccak256 of the RLP list of the trusted validators, exactly as extraData lists it.
    bytes32 public validatorSetHash;
    address[] private _validators;
    mapping(bytes32 blockHash => Roots) private _roots;

    event HeaderAccepted(uint256 indexed number, bytes32 indexed blockHash, bytes32 receiptsRoot, bytes32 stateRoot);
    event ValidatorSetChanged(uint256 indexed number, bytes32 indexed blockHash, address[] validators);

    error HeaderMalformed(uint256 field); // field index; 255 = the list itself
    error HeaderFieldCount(uint256 count);
    error NotQbftHeader(uint256 field); // mixHash (13), difficulty (7), ommers (1), gasUsed (10)
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
    error BackfillNeedsTrustedSet(uint256 number);

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

    /// @param sourceChainId_ chain id of the consortium chain whose headers this client accepts
    /// @param initialValidators the validator set trusted to seal the block after the trusted header,
    ///        sorted ascending (as Besu lists them)
    /// @param trustedNumber number of the trusted header (e.g. 0 for genesis)
    /// @param trustedHash QBFT block hash of the trusted header
    constructor(uint256 sourceChainId_, address[] memory initialValidators, uint64 trustedNumber, bytes32 trustedHash) {
        sourceChainId = sourceChainId_;
        _setValidators(initialValidators);
        latestNumber = trustedNumber;
        latestHash = trustedHash;
    }

    // --- views ------------------------------------------------------------------------------

    /// @inheritdoc IHeaderOracle
    function receiptsRootOf(uint256 chainId, bytes32 blockHash) external view returns (bytes32 root) {
        root = _roots[blockHash].receiptsRoot;
        if (chainId != sourceChainId || root == 0) revert UnknownHeader(chainId, blockHash);
    }

    /// @inheritdoc IHeaderOracle
    function stateRootOf(uint256 chainId, bytes32 blockHash) external view returns (bytes32 root) {
        Roots storage r = _roots[blockHash];
        if (chainId != sourceChainId || r.receiptsRoot == 0) revert UnknownHeader(chainId, blockHash);
        return r.stateRoot;
    }

    function isAccepted(bytes32 blockHash) external view returns (bool) {
        return _roots[blockHash].receiptsRoot != 0;
    }

    /// @notice The trusted validator set (sorted).
    function validators() external view returns (address[] memory) {
        return _validators;
    }

    // --- submission -------------------------------------------------------------------------

    /// @notice Verify a sealed QBFT header (RLP, as eth_getBlockBy* fields encode it) and store
    /// its receipts and state roots. Returns its QBFT block hash.
    function submitHeader(bytes calldata headerRlp) external returns (bytes32 blockHash) {
        Hdr memory h = _parse(headerRlp);
        blockHash = _hashVariant(h, bytes32(uint256(0x80) << 248), 1); // round 0
        bytes32 digest = blockHash;
        uint256 roundLen = h.roundStop - h.roundHdr;
        if (roundLen != 1 || _byteAt(h.roundHdr) != 0x80) {
            digest = _hashVariant(h, _wordAt(h.roundHdr), roundLen);
        }
        uint256 n = (h.valStop - h.valPayload) / 21;
        bool sameSet = RLPReader.keccakCalldata(h.valHdr, h.valStop - h.valHdr) == validatorSetHash;
        uint256 latest = latestNumber;
        if (h.number <= latest) {
            // backfill: the current trusted set's quorum vouches for an older header
            if (_roots[blockHash].receiptsRoot != 0) revert HeaderAlreadyAccepted(blockHash);
            if (!sameSet) revert BackfillNeedsTrustedSet(h.number);
            _checkCoinbase(h, n);
            _requireQuorum(_verifySeals(h, digest, n), n);
            _store(h, blockHash);
            return blockHash;
        }
        if (h.number == latest + 1 && h.parentHash != latestHash) revert WrongParent(h.parentHash, latestHash);
        if (h.timestamp < latestTimestamp) revert TimestampBeforeLatest(h.timestamp, latestTimestamp);
        if (!sameSet) _checkValidatorList(h, n);
        _checkCoinbase(h, n);
        uint256 signers = _verifySeals(h, digest, n);
        _requireQuorum(signers, n);
        if (!sameSet) _requireTrustedOverlap(h, signers, n);
        latestNumber = uint64(h.number);
        latestTimestamp = uint64(h.timestamp);
        latestHash = blockHash;
        _store(h, blockHash);
        if (!sameSet) {
            address[] memory listed = new address[](n);
            for (uint256 i = 0; i < n; ++i) {
                listed[i] = _validatorAt(h.valPayload, i);
            }
            _setValidators(listed);
            emit ValidatorSetChanged(h.number, blockHash, listed);
        }
    }

    function _store(Hdr memory h, bytes32 blockHash) private {
        _roots[blockHash] = Roots(h.receiptsRoot, h.stateRoot);
        emit HeaderAccepted(h.number, blockHash, h.receiptsRoot, h.stateRoot);
    }

    function _setValidators(address[] memory set) private {
        uint256 n = set.length;
        if (n == 0 || n > MAX_VALIDATORS) revert ValidatorSetInvalid();
        bytes memory encoded;
        for (uint256 i = 0; i < n; ++i) {
            if (i > 0 && set[i] <= set[i - 1]) revert ValidatorSetInvalid();
            encoded = bytes.concat(encoded, bytes1(0x94), bytes20(set[i]));
        }
        validatorSetHash = keccak256(bytes.concat(_listPrefix(encoded.length), encoded));
        _validators = set;
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
                    else if (i == 9) h.gasLimit = v;
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
            if (e - s > 4) revert ExtraDataMalformed(3);
            RLPReader.uintOf(s, e, 4);
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

    function _requireQuorum(uint256 bitmap, uint256 n) private pure {
        uint256 got = _popcount(bitmap);
        uint256 needed = (2 * n + 2) / 3; // ceil(2n/3), Besu calculateRequiredValidatorQuorum
        if (got < needed) revert TooFewSeals(got, needed);
    }

    /// @dev Skipping rule: more than 1/3 of the trusted set sealed the header.
    function _requireTrustedOverlap(Hdr memory h, uint256 bitmap, uint256 n) private view {
        address[] memory trusted = _validators;
        uint256 overlap;
        for (uint256 i = 0; i < n; ++i) {
            if (bitmap & (1 << i) == 0) continue;
            address a = _validatorAt(h.valPayload, i);
            // binary search in the sorted trusted set
            uint256 lo;
            uint256 hi = trusted.length;
            while (lo < hi) {
                uint256 mid = (lo + hi) >> 1;
                address m = trusted[mid];
                if (m == a) {
                    ++overlap;
                    break;
                }
                if (m < a) lo = mid + 1;
                else hi = mid;
            }
        }
        if (3 * overlap <= trusted.length) revert TooFewTrustedSeals(overlap, trusted.length / 3 + 1);
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
