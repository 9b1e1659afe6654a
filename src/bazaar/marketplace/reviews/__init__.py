"""Reviews: after a completed deal, buyer and seller rate each other once."""
