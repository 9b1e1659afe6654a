"""Purchase requests: what a buyer wants, its lifecycle (the state machine) and search."""
