// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControlEnumerable} from "@openzeppelin/contracts/access/extensions/AccessControlEnumerable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IHeaderOracle} from "../interfaces/IHeaderOracle.sol";

/// @title AttestedHeaderStore: public-chain headers on the consortium chain, k of m attesters.
/// @notice A header (chainId, number, blockHash, receiptsRoot, stateRoot) is accepted once
/// `threshold` distinct registered attesters signed it as EIP-712 typed data
///   Header(uint256 chainId,uint64 number,bytes32 blockHash,bytes32 receiptsRoot,bytes32 stateRoot)
/// in the domain {name: "xgate AttestedHeaderStore", version: "1", chainId, verifyingContract}.
/// Two ways in:
///  - submitHeader(h, signatures): all signatures at once (cheapest; nothing kept if short);
///  - attest(h, signature): one at a time; the header is accepted by the attestation that
///    reaches the threshold. Pending attestations expire when the attester set or the
///    threshold changes (`configVersion`), so a removed attester's signature never counts.
/// Conflicts: if a header reaches the threshold for a (chainId, number) that already has a
/// DIFFERENT accepted hash, the store does not accept it and disputes that height instead: the
/// earlier header's roots are withdrawn (lookups revert UnknownHeader), ConflictingHeader is
/// emitted (the transaction succeeds, so the evidence stays on chain), and the height is frozen
/// (HeaderDisputed) until an admin calls clearDispute.
/// Admin (DEFAULT_ADMIN_ROLE) manages attesters with grantRole/revokeRole(ATTESTER_ROLE)
/// (OpenZeppelin RoleGranted/RoleRevoked events; getRoleMember/getRoleMemberCount list them)
/// and the threshold (ThresholdChanged); the threshold always stays within 1..attester count.
contract AttestedHeaderStore is IHeaderOracle, AccessControlEnumerable, EIP712 {
    bytes32 public constant ATTESTER_ROLE = keccak256("ATTESTER_ROLE");
    bytes32 public constant HEADER_TYPEHASH =
        keccak256("Header(uint256 chainId,uint64 number,bytes32 blockHash,bytes32 receiptsRoot,bytes32 stateRoot)");
    bytes32 private constant DISPUTED = bytes32(uint256(1));

    struct HeaderData {
        uint256 chainId;
        uint64 number;
        bytes32 blockHash;
        bytes32 receiptsRoot;
        bytes32 stateRoot;
    }

    struct Roots {
        bytes32 receiptsRoot;
        bytes32 stateRoot;
    }

    uint256 public threshold;
    uint256 public configVersion;
    mapping(uint256 chainId => mapping(bytes32 blockHash => Roots)) private _roots;
    /// @notice Accepted hash per height (bytes32(1) = disputed, 0 = none).
    mapping(uint256 chainId => mapping(uint64 number => bytes32 blockHash)) public headerAt;
    mapping(bytes32 pendingKey => uint256 count) private _pendingCount;
    mapping(bytes32 pendingKey => mapping(address attester => bool)) private _pendingBy;

    event HeaderAccepted(
        uint256 indexed chainId, uint256 indexed number, bytes32 indexed blockHash, bytes32 receiptsRoot, bytes32 stateRoot
    );
    event HeaderAttested(bytes32 indexed digest, address indexed attester, uint256 count, uint256 configVersion);
    event ConflictingHeader(
        uint256 indexed chainId, uint256 indexed number, bytes32 acceptedHash, bytes32 conflictingHash
    );
    event DisputeCleared(uint256 indexed chainId, uint256 indexed number);
    event ThresholdChanged(uint256 previous, uint256 threshold);

    error NotAttester(address signer);
    error DuplicateAttestation(address attester);
    error NotEnoughAttestations(uint256 got, uint256 needed);
    error HeaderAlreadyAccepted(uint256 chainId, bytes32 blockHash);
    error HeaderDisputed(uint256 chainId, uint256 number);
    error InvalidThreshold(uint256 threshold, uint256 attesters);
    error InvalidHeader();
    error NotDisputed(uint256 chainId, uint256 number);

    constructor(address admin, address[] memory attesters, uint256 threshold_)
        EIP712("xgate AttestedHeaderStore", "1")
    {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        for (uint256 i = 0; i < attesters.length; ++i) {
            _grantRole(ATTESTER_ROLE, attesters[i]);
        }
        _setThreshold(threshold_);
    }

    // --- views ------------------------------------------------------------------------------

    /// @inheritdoc IHeaderOracle
    function receiptsRootOf(uint256 chainId, bytes32 blockHash) external view returns (bytes32 root) {
        root = _roots[chainId][blockHash].receiptsRoot;
        if (root == 0) revert UnknownHeader(chainId, blockHash);
    }

    /// @inheritdoc IHeaderOracle
    function stateRootOf(uint256 chainId, bytes32 blockHash) external view returns (bytes32) {
        Roots storage r = _roots[chainId][blockHash];
        if (r.receiptsRoot == 0) revert UnknownHeader(chainId, blockHash);
        return r.stateRoot;
    }

    /// @notice Number of registered attesters (m).
    function attesterCount() external view returns (uint256) {
        return getRoleMemberCount(ATTESTER_ROLE);
    }

    function isAccepted(uint256 chainId, bytes32 blockHash) external view returns (bool) {
        return _roots[chainId][blockHash].receiptsRoot != 0;
    }

    /// @notice The EIP-712 digest attesters sign for `h`.
    function headerDigest(HeaderData calldata h) public view returns (bytes32) {
        bytes32 structHash =
            keccak256(abi.encode(HEADER_TYPEHASH, h.chainId, h.number, h.blockHash, h.receiptsRoot, h.stateRoot));
        return _hashTypedDataV4(structHash);
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice Attestations collected so far for `h` under the current configuration.
    function pendingAttestations(HeaderData calldata h) external view returns (uint256) {
        return _pendingCount[_pendingKey(headerDigest(h))];
    }

    function hasAttested(HeaderData calldata h, address attester) external view returns (bool) {
        return _pendingBy[_pendingKey(headerDigest(h))][attester];
    }

    // --- submission -------------------------------------------------------------------------

    /// @notice Accept `h` with `signatures` from at least `threshold` distinct attesters.
    function submitHeader(HeaderData calldata h, bytes[] calldata signatures) external {
        _checkOpen(h);
        bytes32 digest = headerDigest(h);
        uint256 k = signatures.length;
        address[] memory signers = new address[](k);
        for (uint256 i = 0; i < k; ++i) {
            address signer = ECDSA.recover(digest, signatures[i]);
            if (!hasRole(ATTESTER_ROLE, signer)) revert NotAttester(signer);
            for (uint256 j = 0; j < i; ++j) {
                if (signers[j] == signer) revert DuplicateAttestation(signer);
            }
            signers[i] = signer;
        }
        if (k < threshold) revert NotEnoughAttestations(k, threshold);
        _accept(h);
    }

    /// @notice Record one attester's signature over `h` (anyone may relay it); accepts `h`
    /// when this attestation reaches the threshold.
    function attest(HeaderData calldata h, bytes calldata signature) external {
        _checkOpen(h);
        bytes32 digest = headerDigest(h);
        address signer = ECDSA.recover(digest, signature);
        if (!hasRole(ATTESTER_ROLE, signer)) revert NotAttester(signer);
        bytes32 key = _pendingKey(digest);
        if (_pendingBy[key][signer]) revert DuplicateAttestation(signer);
        _pendingBy[key][signer] = true;
        uint256 count = _pendingCount[key] + 1;
        _pendingCount[key] = count;
        emit HeaderAttested(digest, signer, count, configVersion);
        if (count >= threshold) _accept(h);
    }

    // --- admin ------------------------------------------------------------------------------

    function setThreshold(uint256 threshold_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setThreshold(threshold_);
        ++configVersion;
    }

    /// @notice Unfreeze a disputed height (after the operators resolved the conflict off chain).
    function clearDispute(uint256 chainId, uint64 number) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (headerAt[chainId][number] != DISPUTED) revert NotDisputed(chainId, number);
        delete headerAt[chainId][number];
        emit DisputeCleared(chainId, number);
    }

    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (granted && role == ATTESTER_ROLE) ++configVersion;
    }

    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked && role == ATTESTER_ROLE) {
            uint256 m = getRoleMemberCount(ATTESTER_ROLE);
            if (threshold > m) revert InvalidThreshold(threshold, m); // lower the threshold first
            ++configVersion;
        }
    }

    // --- internals --------------------------------------------------------------------------

    function _setThreshold(uint256 threshold_) private {
        uint256 m = getRoleMemberCount(ATTESTER_ROLE);
        if (threshold_ == 0 || threshold_ > m) revert InvalidThreshold(threshold_, m);
        emit ThresholdChanged(threshold, threshold_);
        threshold = threshold_;
    }

    function _checkOpen(HeaderData calldata h) private view {
        if (h.blockHash == 0 || h.receiptsRoot == 0 || h.blockHash == DISPUTED) revert InvalidHeader();
        if (_roots[h.chainId][h.blockHash].receiptsRoot != 0) revert HeaderAlreadyAccepted(h.chainId, h.blockHash);
        if (headerAt[h.chainId][h.number] == DISPUTED) revert HeaderDisputed(h.chainId, h.number);
    }

    function _accept(HeaderData calldata h) private {
        bytes32 existing = headerAt[h.chainId][h.number];
        if (existing != 0) {
            // Same height, different hash (the same hash was refused by _checkOpen).
            delete _roots[h.chainId][existing];
            headerAt[h.chainId][h.number] = DISPUTED;
            emit ConflictingHeader(h.chainId, h.number, existing, h.blockHash);
            return;
        }
        headerAt[h.chainId][h.number] = h.blockHash;
        _roots[h.chainId][h.blockHash] = Roots(h.receiptsRoot, h.stateRoot);
        emit HeaderAccepted(h.chainId, h.number, h.blockHash, h.receiptsRoot, h.stateRoot);
    }

    function _pendingKey(bytes32 digest) private view returns (bytes32) {
        return keccak256(abi.encode(digest, configVersion));
    }
}
