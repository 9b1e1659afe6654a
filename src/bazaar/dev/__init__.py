"""Development tools: the local chain (`bazaar dev chain`), paying a payment from the
development buyer's wallet (`bazaar dev pay`) and signing a build-only payout with the
development treasury key (`bazaar dev sign-payout`). Never for production: the keys are
anvil's published test keys."""
