"""The contract-test fixtures themselves work on both chains."""


def test_deploy_send_decode_custom_error_and_advance_time(chain):
    token = chain.deploy("SmokeToken")
    receipt = chain.send(token.functions.transfer(chain.accounts[1].address, 5))
    assert receipt["status"] == 1
    assert token.functions.balanceOf(chain.accounts[1].address).call() >= 5
    reverted = chain.expect_revert(token.functions.limited(9), "TooMuch")
    assert reverted.args_ == (9,)
    before = chain.now()
    chain.advance_time(100)
    assert chain.now() >= before + 100
