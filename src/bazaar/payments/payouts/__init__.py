"""Payouts: the instructions a release or a refund produces to send money out of escrow,
built as unsigned EIP-1559 ERC-20 transfers (DERIVED_DESTINATION_SWEEP_SIGNER=build-only),
marked sent by an admin and verified on chain before they are done."""
