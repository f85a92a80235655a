// Splits a `perf script` dump of workerd into the parts of a request: every sample is charged
// to the innermost frame on its stack that names a part (a gateway function, a runtime API,
// SQLite's commit, the garbage collector...), so each sample counts exactly once and the
// parts add up to the whole. Frames that name nothing (malloc, memcpy, V8 builtins, the
// kernel) are charged to whatever called them.
//
// Native frames are matched by their function's name alone: template arguments and parameter
// lists are stripped first, since nearly every frame of the runtime mentions an InputGate or
// an Actor among its template arguments.
//
// JavaScript frames are named through V8's perf map (`--perf-basic-prof`): "JS:+'admit
// gateway.js:2432:8". The gateway's bundle is served as GATEWAY_SCRIPT so its functions are
// told apart from Miniflare's own Workers, which run in the same process.

export const GATEWAY_SCRIPT = "gateway.js";

/** A JavaScript function of the gateway's bundle, by name. */
function gatewayJs(...names: string[]): RegExp {
  return new RegExp(`^JS:[^A-Za-z_$]*(?:${names.join("|")}) ${GATEWAY_SCRIPT.replace(".", "\\.")}:`);
}

export interface Part {
  name: string;
  /** A frame whose function matches one of these charges the sample to this part. */
  frames?: RegExp[];
  /**
   * Second pass, for samples no function claimed (the runtime's generic promise and context
   * machinery): a frame whose full text, template arguments included, matches one of these.
   * That is how the continuation of a Durable Object call, say, is told from an HTTP one.
   */
  within?: RegExp[];
  /**
   * Only when the nearest JavaScript caller of the matching frame (runtime internals such as
   * node-internal: skipped) is one of these: JSON.stringify is the log line's when the gateway
   * calls it, Miniflare's when its entry Worker does.
   */
  calledFrom?: RegExp;
}

/**
 * Order matters only between patterns that can match the same frame; otherwise the innermost
 * matching frame decides. Names and order are what docs/performance.md's table shows.
 */
export const PARTS: readonly Part[] = [
  {
    name: "V8 garbage collection",
    frames: [/^v8::internal::(Heap::|Scavenger|ScavengeJob|MinorGCJob|MarkCompact|MinorMarkSweep|IncrementalMarking|ConcurrentMarking|Sweeper|GCTracer)/, /HeapTracer/],
  },
  {
    name: "storage commit (COMMIT, WAL write, fsync)",
    frames: [/ActorSqlite::(startImplicitTxnImpl|commitImpl)/, /ActorSqlite::ImplicitTxn::commit/],
    within: [/ActorSqlite/],
  },
  {
    name: "SQL statements + savepoint in the object",
    frames: [
      gatewayJs("saveDay", "appendMinute", "dropMinuteBelow", "pruneLedger", "netMovement", "recentLedger", "writeBatch", "write[A-Z]\\w*"),
      /DurableObjectStorage::transactionSync/,
      /SqlStorage::(exec|Cursor)/,
    ],
  },
  {
    name: "the object's JS (admit, decide, batch)",
    frames: [
      gatewayJs(
        "admit",
        "settle",
        "decide",
        "windowStates",
        "firstInMinute",
        "dayUsedAt",
        "dayNumberOf",
        "msUntilNextDay",
        "ceilSeconds",
        "clock",
        "now",
        "limits",
        "planLimits",
        "snapshot",
        "digestsEqual",
        "keyIsLive",
        "atomically",
        "recordAdmissions?",
        "recordDebits",
        "moveCredits",
        "answerOnce",
        "join",
        "onTimer",
        "commitNow",
        "stats",
        "append",
        "compact",
        "flush",
        "schedule",
        "add",
        "\\w*[Bb]atch\\w*",
        "\\w*[Pp]ending\\w*",
      ),
      /timingSafeEqual/,
    ],
  },
  {
    name: "DO RPC: (de)serializing arguments and results",
    frames: [/ValueSerializer|ValueDeserializer|jsg::Serializer|jsg::Deserializer|serializeJsValue|deserializeJsValue/],
  },
  {
    name: "DO RPC: the stub (getByName: id, channel)",
    frames: [gatewayJs("accountStub"), /DurableObjectNamespace|getByName|ActorNamespace|ActorChannel|ActorClass|ActorIdFactory|idFromName/],
  },
  {
    name: "DO RPC: call, dispatch, gates, the runtime around both",
    frames: [/JsRpc/, /^capnp::/, /workerd::rpc::/, /OutputGate|InputGate/, /Worker::Actor/],
    within: [/JsRpc/, /workerd::rpc::/, /OutputGate|Worker::Actor::/],
  },
  { name: "key hash (SHA-256)", frames: [gatewayJs("hashKey"), /SubtleCrypto::digest/, /SHA256|sha256_block/] },
  { name: "key parse + checksum", frames: [gatewayJs("parseKey", "checksumOf", "crc32", "encodeBase62", "bearerToken", "readCredentials", "throttled", "throttleFor", "clientAddress", "blockedFor")] },
  {
    name: "log line (JSON.stringify, console.log)",
    frames: [/^JS:.*node-internal:internal_inspect/, /Worker::handleLog|^Builtins_Console|V8Console|ConsoleModule/, /JsonStringifier/],
    calledFrom: new RegExp(` ${GATEWAY_SCRIPT.replace(".", "\\.")}:`),
  },
  {
    // SPEC 5: a charged 2xx body is read through a watcher that refunds if the origin breaks it.
    name: "charged body watcher (credit routes)",
    frames: [gatewayJs("watchBody", "pump")],
    within: [/IdentityTransformStream|FixedLengthStream|WritableStreamInternalController|ReadableStreamInternalController/],
  },
  { name: "RateLimit + gateway response headers", frames: [gatewayJs("rateLimitHeaders", "tightest", "passThrough", "withGatewayHeaders", "applyCors", "allowedOrigin")] },
  { name: "origin request headers (copy, filter)", frames: [gatewayJs("upstreamHeaders", "upstreamUrlFor")] },
  {
    name: "outbound fetch to the origin",
    frames: [gatewayJs("callUpstream"), /workerd::api::fetchImpl|fetchImplNoOutputLock|Fetcher::fetch|ServiceWorkerGlobalScope::fetch/, /kj::HttpClient|HttpClientImpl|NetworkHttpClient|ConcurrencyLimitingHttpClient/, /workerd::api::Request::constructor/],
    within: [/kj::HttpClient::Response|fetchImpl/],
  },
  { name: "request id, config, route (gateway JS)", frames: [gatewayJs("newRequestId", "randomBase62", "loadConfig", "matchRoute", "isPreflight")] },
  { name: "other gateway JS (pipeline, relay, proxy)", frames: [new RegExp(`^JS:.* ${GATEWAY_SCRIPT.replace(".", "\\.")}:`)] },
  { name: "the pass-through Worker's JS", frames: [/^JS:.* passthrough-worker\.js:/] },
  { name: "Miniflare's entry Worker (both Workers pay it)", frames: [/^JS:.* entry\.worker\.js:/] },
  // Headers calls made from the gateway's JavaScript are charged to the function that made
  // them (above); this is what the runtime does with Headers on its own (copies, teardown).
  { name: "Headers objects (runtime, outside JS)", within: [/workerd::api::Headers/] },
  {
    // The sockets are written and read outside any call that says which direction they serve.
    name: "HTTP transport and fetch event (both directions)",
    frames: [/kj::HttpServer|HttpServer::Connection|HttpInputStreamImpl|HttpOutputStream|HttpEntityBody|HttpChunkedEntityWriter|HttpFixedLengthEntityWriter|kj::HttpHeaders|WorkerEntrypoint::request|ServiceWorkerGlobalScope::request|HttpListener|acceptAuthenticated|AsyncStreamFd|AsyncIoStream/],
    within: [/WorkerEntrypoint::requestImpl|kj::HttpServer|HttpService::Response/],
  },
];

export const UNNAMED = "runtime: event loop, promises, other";

/** One sample's stack, innermost frame first, and its weight (perf's period). */
export interface Sample {
  weight: number;
  frames: string[];
}

/**
 * Parses `perf script -F period,ip,sym` output: a header line with the period, then one
 * indented line per frame (address, symbol), then a blank line.
 */
export function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  let current: Sample | null = null;
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (current !== null) samples.push(current);
      current = null;
    } else if (current === null) {
      current = { weight: Number(line.trim()) || 1, frames: [] };
    } else {
      const match = /^\s*[0-9a-f]+\s+(.*)$/.exec(line);
      current.frames.push((match?.[1] ?? line).trim());
    }
  }
  if (current !== null) samples.push(current);
  return samples;
}

/** "a::b<T<U>>::c(int)" → "a::b::c": a frame's function, without its arguments of any kind. */
export function functionOf(frame: string): string {
  let name = frame;
  for (let previous = ""; previous !== name; ) {
    previous = name;
    name = name.replace(/<[^<>]*>/g, "").replace(/\([^()]*\)/g, "");
  }
  return name;
}

export function partOf(sample: Sample): string {
  return claim(sample).part;
}

/** The part a sample is charged to, and the frame that decided it (null: none did). */
export function claim(sample: Sample): { part: string; frame: string | null } {
  for (const [i, frame] of sample.frames.entries()) {
    // perf leaves a few very long symbols mangled: jsg's generic type wrapper, whose template
    // arguments list every API type (DurableObjectNamespace among them). It names no part.
    if (frame.startsWith("_Z")) continue;
    const name = frame.startsWith("JS:") ? frame : functionOf(frame);
    for (const part of PARTS) {
      if (!part.frames?.some((re) => re.test(name))) continue;
      if (part.calledFrom !== undefined && !part.calledFrom.test(nearestCaller(sample.frames, i) ?? "")) continue;
      return { part: part.name, frame: name };
    }
  }
  for (const frame of sample.frames) {
    if (frame.startsWith("_Z")) continue;
    for (const part of PARTS) if (part.within?.some((re) => re.test(frame))) return { part: part.name, frame: `(within) ${frame}` };
  }
  return { part: UNNAMED, frame: null };
}

/** The first JavaScript frame outward of frames[i], runtime-internal scripts skipped. */
function nearestCaller(frames: readonly string[], i: number): string | null {
  for (let j = i + 1; j < frames.length; j++) {
    const frame = frames[j]!;
    if (frame.startsWith("JS:") && !frame.includes("node-internal:")) return frame;
  }
  return null;
}

/** Share of the total weight per part, largest first. */
export function split(samples: readonly Sample[]): Map<string, number> {
  const weights = new Map<string, number>();
  let total = 0;
  for (const s of samples) {
    const part = partOf(s);
    weights.set(part, (weights.get(part) ?? 0) + s.weight);
    total += s.weight;
  }
  return new Map([...weights].map(([name, w]) => [name, total === 0 ? 0 : w / total] as const).sort((a, b) => b[1] - a[1]));
}
