// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Financing, IReceivable} from "./IReceivable.sol";

/// @notice Tokenized receivables (ERC-721) on the consortium chain. An originator (ISSUER_ROLE)
/// tokenizes an invoice; the document hash can be tokenized once, ever, so the same invoice
/// cannot be financed twice. Token ids count up from 1.
contract Receivable is ERC721, AccessControl, IReceivable {
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");

    /// @notice documentHash => token id (0: never tokenized). Never cleared.
    mapping(bytes32 documentHash => uint256) public tokenOfDocument;

    mapping(uint256 tokenId => Financing) private _financing;
    uint256 private _lastId;

    event Tokenized(
        uint256 indexed tokenId,
        bytes32 indexed documentHash,
        address indexed to,
        address debtor,
        address creditor,
        uint128 faceValue,
        bytes3 currency,
        uint64 dueDate
    );

    error DocumentAlreadyTokenized(bytes32 documentHash, uint256 tokenId);
    error InvalidFinancing(string field);
    error UnknownReceivable(uint256 tokenId);
    error ZeroAdmin();

    constructor(string memory name_, string memory symbol_, address admin) ERC721(name_, symbol_) {
        if (admin == address(0)) revert ZeroAdmin();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Tokenize one receivable to `to` (usually its creditor); returns the token id.
    function tokenize(address to, Financing calldata f) external onlyRole(ISSUER_ROLE) returns (uint256 tokenId) {
        if (f.documentHash == bytes32(0)) revert InvalidFinancing("documentHash");
        uint256 existing = tokenOfDocument[f.documentHash];
        if (existing != 0) revert DocumentAlreadyTokenized(f.documentHash, existing);
        if (f.debtor == address(0)) revert InvalidFinancing("debtor");
        if (f.creditor == address(0)) revert InvalidFinancing("creditor");
        if (f.faceValue == 0) revert InvalidFinancing("faceValue");
        if (!isCurrencyCode(f.currency)) revert InvalidFinancing("currency");
        if (f.dueDate <= block.timestamp) revert InvalidFinancing("dueDate");
        tokenId = ++_lastId;
        tokenOfDocument[f.documentHash] = tokenId;
        _financing[tokenId] = f;
        _safeMint(to, tokenId);
        emit Tokenized(tokenId, f.documentHash, to, f.debtor, f.creditor, f.faceValue, f.currency, f.dueDate);
    }

    /// @inheritdoc IReceivable
    function financingOf(uint256 tokenId) external view returns (Financing memory) {
        if (_ownerOf(tokenId) == address(0)) revert UnknownReceivable(tokenId);
        return _financing[tokenId];
    }

    /// @notice How many receivables were tokenized (the highest token id).
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
        return interfaceId == type(IReceivable).interfaceId || super.supportsInterface(interfaceId);
    }
}
