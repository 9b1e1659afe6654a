"""Request templates: a seller's reusable catalog items, instantiated by buyers."""
