"""EVM chain access: JSON-RPC (`rpc.py`), ERC-20 encoding and log decoding (`erc20.py`),
and the periodic verification of funding transfers (`jobs.py`)."""
