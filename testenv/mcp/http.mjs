// Starts @modelcontextprotocol/server-everything's streamable HTTP transport
// on 127.0.0.1 (the package listens on every interface by default) at
// PORT (0 = any free port) and prints "LISTENING <port>" on stdout once it
// accepts connections, so that a test can find it.
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" || (typeof args[0] === "string" && /^\d+$/.test(args[0]))) {
    const port = Number(args[0]);
    const cb = typeof args[args.length - 1] === "function" ? args[args.length - 1] : undefined;
    this.once("listening", () => {
      process.stdout.write(`LISTENING ${this.address().port}\n`);
    });
    return cb ? listen.call(this, port, "127.0.0.1", cb) : listen.call(this, port, "127.0.0.1");
  }
  return listen.apply(this, args);
};
process.env.PORT = process.env.PORT || "0";
await import("./node_modules/@modelcontextprotocol/server-everything/dist/transports/streamableHttp.js");
