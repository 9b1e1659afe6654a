"""Payment providers: how a buyer's money reaches escrow. `base.py` is the interface; one
module per provider (`onchain.py` today; Request Network and derived addresses next)."""
