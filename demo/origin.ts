// The demo origin that `npm start` puts behind the gateway: a tiny posts API, a paid
// "generate" operation, and one endpoint that fails the way real origins do.
//
//   node demo/origin.ts [port]   (default 8788, matching UPSTREAM_URL in wrangler.toml)
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

const posts = new Map<string, { id: string; title: string }>([
  ["1", { id: "1", title: "Hello from the origin" }],
  ["2", { id: "2", title: "Every error is one envelope" }],
]);

export function startDemoOrigin(port: number): Promise<() => void> {
  const server = createServer((req, res) => {
    route(req, res).catch(() => send(res, 500, { message: "demo origin failed" }));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(() => server.close()));
  });
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://demo.local");
  const method = req.method ?? "GET";
  const path = url.pathname;
  const who = { account: req.headers["x-account-id"] ?? null, key: req.headers["x-key-id"] ?? null, request_id: req.headers["x-request-id"] };

  if (path === "/v1/status") return send(res, 200, { status: "ok", service: "tollgate demo origin" });
  if (path === "/v1/posts" && method === "GET") return send(res, 200, { posts: [...posts.values()], seen_as: who });
  if (path === "/v1/posts" && method === "POST") {
    const body = await readJson(req);
    if (body === undefined || typeof (body as { title?: unknown }).title !== "string") {
      return send(res, 422, { errors: [{ field: "title", message: "title is required and must be a string" }] });
    }
    const id = String(posts.size + 1);
    const post = { id, title: (body as { title: string }).title };
    posts.set(id, post);
    return send(res, 201, post);
  }
  const postMatch = /^\/v1\/posts\/([^/]+)$/.exec(path);
  if (postMatch && method === "GET") {
    const post = posts.get(postMatch[1]!);
    return post ? send(res, 200, post) : send(res, 404, { error: { message: `No post with id ${postMatch[1]}` } });
  }
  if (path === "/v1/content/generate" && method === "POST") {
    return send(res, 200, { text: "A generated paragraph, worth 40 credits.", seen_as: who });
  }
  if (path === "/v1/fail/html") {
    res.writeHead(502, { "Content-Type": "text/html" });
    return void res.end("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>");
  }
  return send(res, 404, { message: `The demo origin has no ${method} ${path}` });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.argv[2] ?? 8788);
  await startDemoOrigin(port);
  console.log(`demo origin listening on http://127.0.0.1:${port}`);
}
