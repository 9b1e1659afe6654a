"""Shop settings: a seller's storefront profile, payout wallets and auto-accept rules."""
