"""Marketplace categories: a tree with public reads and admin writes."""
