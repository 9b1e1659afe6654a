// The official socket.io-client v4, as the seed's frontend uses it: connect with the access
// token in the handshake `auth`, join a room, print each line as JSON for the Python test:
// {"joined": ack} once the join is acknowledged, then {"event", "data"} for the first
// event, and exit. A refused handshake prints {"refused": {message, data}}.
import { io } from "socket.io-client";

const [url, token, room, eventName] = process.argv.slice(2);
const socket = io(url, { auth: { token }, transports: ["websocket"], reconnection: false });
const say = (value) => process.stdout.write(JSON.stringify(value) + "\n");

socket.on("connect_error", (err) => {
  say({ refused: { message: err.message, data: err.data ?? null } });
  process.exit(0);
});
socket.on(eventName, (data) => {
  say({ event: eventName, data });
  socket.close();
  process.exit(0);
});
socket.on("connect", async () => {
  const ack = await socket.timeout(10000).emitWithAck("join", { room });
  say({ joined: ack });
});
setTimeout(() => {
  say({ timeout: true });
  process.exit(1);
}, 30000);
