// The trivial responder: a TLS server that answers every request with a tiny JSON body.
// bench/run.py aims the load generator at it to show the generator's own ceiling.
//
//   node bench/responder.mjs CERT KEY   (prints the port it listens on, on 127.0.0.1)

import fs from "node:fs";
import https from "node:https";

const [cert, key] = process.argv.slice(2).map((path) => fs.readFileSync(path));
const body = JSON.stringify({ ok: true });
const server = https.createServer({ cert, key, keepAliveTimeout: 30000 }, (req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": body.length });
    res.end(body);
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
