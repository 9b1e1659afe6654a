"""Transaction safety: confirmation thresholds per (chain, token), AML screening of funded
payments, and the guard's review of the payments it holds back (SPEC §5)."""
