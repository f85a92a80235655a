// A web page on its own origin (127.0.0.1, a port of its own) that loads the client SDK,
// bundled for browsers by esbuild, and exposes it as `window.tollgate` — for the browser
// tests, which need code running in a real page on an origin other than the gateway's.
import { build } from "esbuild";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { ROOT } from "./gateway.ts";

export interface ClientPage {
  /** `http://127.0.0.1:<port>`: what the browser sends as Origin. */
  origin: string;
  close(): Promise<void>;
}

const PAGE = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Tollgate client in a browser</title>
<script type="module">
  import * as tollgate from "/client.js";
  window.tollgate = tollgate;
  document.title = "ready";
</script>
</html>
`;

/** The client as one ES module for browsers: proves it needs nothing but web APIs. */
export async function bundleClient(): Promise<string> {
  const result = await build({
    entryPoints: [join(ROOT, "src/client/index.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const [output] = result.outputFiles;
  if (output === undefined) throw new Error("esbuild produced no output for src/client/index.ts");
  return output.text;
}

export async function serveClientPage(bundle: string): Promise<ClientPage> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://page.test").pathname;
    if (path === "/") {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      return void res.end(PAGE);
    }
    if (path === "/client.js") {
      res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8" });
      return void res.end(bundle);
    }
    res.writeHead(404, { "Content-Type": "text/plain" });
    res.end("not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
