// A chat server on the `ws` package, as its README broadcasts to all clients: every text
// message goes to every open client, the sender included, as `[name]: text`, after the
// tutorial's greeting. Names are user0, user1, …
"use strict";
const { WebSocketServer, WebSocket } = require("ws");

const port = Number(process.argv[2]) || 8080;
const wss = new WebSocketServer({ host: "127.0.0.1", port, path: "/chat" });
let next = 0;

wss.on("connection", (ws) => {
  const name = `user${next++}`;
  ws.send(`You are connected! There are ${wss.clients.size} users here.`);
  ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    const line = `[${name}]: ${data}`;
    wss.clients.forEach((client) => {
      if (client.readyState === WebSocket.OPEN) client.send(line);
    });
  });
});
