// SPDX-License-Identifier: Apache-2.0
// Test-only: a USDT-style ERC-20 whose transfer, transferFrom and approve return nothing and
// revert on failure (what SafeERC20 must accept), with a switch to make transfers return false
// silently instead (what SafeERC20 must refuse, like pre-standard tokens).
pragma solidity 0.8.30;

contract HtlcNoReturnToken {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    uint256 public totalSupply;
    bool public returnFalse;

    error NoReturnInsufficient();

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
        totalSupply += amount;
        emit Transfer(address(0), to, amount);
    }

    /// From now on, failing transfers return `false` (abi-encoded) instead of reverting.
    function setReturnFalse(bool on) external {
        returnFalse = on;
    }

    function approve(address spender, uint256 amount) external {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
    }

    function transfer(address to, uint256 amount) external {
        if (!_move(msg.sender, to, amount)) _fail();
    }

    function transferFrom(address from, address to, uint256 amount) external {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed < amount) _fail();
        if (!_move(from, to, amount)) _fail();
        allowance[from][msg.sender] = allowed - amount;
    }

    function _move(address from, address to, uint256 amount) private returns (bool) {
        if (balanceOf[from] < amount) return false;
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
        return true;
    }

    function _fail() private view {
        if (returnFalse) {
            assembly {
                mstore(0, 0)
                return(0, 32)
            }
        }
        revert NoReturnInsufficient();
    }
}
