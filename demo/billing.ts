// The second demo origin that `npm start` puts behind the gateway (contract section 12): a
// tiny billing service on its own port, reached under /v1/billing/ with that prefix
// stripped, so it serves /invoices, not /v1/billing/invoices. It can also stage an outage,
// to show the billing upstream's circuit breaker at work.
//
//   node demo/billing.ts [port]   (default 8789, matching [vars.UPSTREAMS.billing] in wrangler.toml)
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

const invoices = [
  { id: "inv_1", amount_cents: 4200, status: "paid" },
  { id: "inv_2", amount_cents: 990, status: "open" },
];

export function startDemoBilling(port: number): Promise<() => void> {
  /** Until when (epoch ms) every request is answered 503, as a service that is down would. */
  let outageUntil = 0;
  const server = createServer((req, res) => {
    try {
      outageUntil = route(req, res, outageUntil);
    } catch {
      send(res, 500, { message: "demo billing failed" });
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(() => server.close()));
  });
}

/** Answers one request; returns the outage's end, which POST /outage moves. */
function route(req: IncomingMessage, res: ServerResponse, outageUntil: number): number {
  const url = new URL(req.url ?? "/", "http://billing.local");
  const method = req.method ?? "GET";
  // What the gateway sent: the path after strip_prefix, and who the caller is.
  const seen = { path: `${url.pathname}${url.search}`, account: req.headers["x-account-id"] ?? null, request_id: req.headers["x-request-id"] };

  if (url.pathname === "/outage" && method === "POST") {
    const seconds = Math.min(Math.max(Number(url.searchParams.get("seconds") ?? 20) || 20, 1), 300);
    send(res, 202, { outage_seconds: seconds, note: "every request is answered 503 meanwhile; the gateway's breaker opens after 5 of them" });
    return Date.now() + seconds * 1000;
  }
  if (Date.now() < outageUntil) {
    send(res, 503, { message: "billing is down for maintenance" });
    return outageUntil;
  }
  if (url.pathname === "/" && method === "GET") send(res, 200, { service: "tollgate demo billing", endpoints: ["GET /invoices", "GET /invoices/:id", "POST /outage?seconds=N"], seen_as: seen });
  else if (url.pathname === "/invoices" && method === "GET") send(res, 200, { invoices, seen_as: seen });
  else {
    const match = /^\/invoices\/([^/]+)$/.exec(url.pathname);
    const invoice = match && method === "GET" ? invoices.find((i) => i.id === match[1]) : undefined;
    if (invoice !== undefined) send(res, 200, { ...invoice, seen_as: seen });
    else send(res, 404, { message: `The demo billing service has no ${method} ${url.pathname}` });
  }
  return outageUntil;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.argv[2] ?? 8789);
  await startDemoBilling(port);
  console.log(`demo billing service listening on http://127.0.0.1:${port}`);
}
