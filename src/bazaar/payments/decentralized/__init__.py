"""`/api/payment/decentralized`: pay on chain yourself and submit the transaction hash."""
