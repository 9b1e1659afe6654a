"""Seller offers on purchase requests: make, edit, withdraw, reject, accept."""
