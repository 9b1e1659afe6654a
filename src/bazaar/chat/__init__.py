"""Chat between a request's buyer and a seller, and with support (`/api/chat`)."""
