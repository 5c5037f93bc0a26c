// An HTTP server that reads request bodies and throws the bytes away: the upload benchmark's
// measure of the client alone (upload.mjs SINK_URL). Prints "listening PORT" once ready.
//
// Usage: node bench/download/sink.mjs

import http from "node:http";

const server = http.createServer((request, response) => {
  let received = 0;
  request.on("data", (chunk) => (received += chunk.length));
  request.on("end", () => response.end(JSON.stringify({ received })));
});
server.listen(0, "127.0.0.1", () => process.stdout.write(`listening ${server.address().port}\n`));
