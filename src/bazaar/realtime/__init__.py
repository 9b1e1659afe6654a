"""Socket.IO on the API's own port (`/socket.io/`): handshake auth with the access token,
rooms checked against access, and events sent after commit (`events.emit`)."""
