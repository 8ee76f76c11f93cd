// A stand-in for an OpenSearch cluster in tests where no cluster can run: a node:http server on
// 127.0.0.1 that records every request (method, path, raw body) and answers with canned
// OpenSearch responses. Tests assert the exact requests Vigil sends; the real-cluster suite
// (OPENSEARCH_URL) checks the same code against OpenSearch itself.
import { createServer, type IncomingMessage, type Server } from "node:http";

export interface RecordedRequest {
  method: string;
  /** Path and query string, e.g. `/vigil-events-*\/_search?routing=…`. */
  path: string;
  contentType: string | undefined;
  body: string;
}

export interface CannedResponse {
  status: number;
  body: unknown;
}

/** Decides the response to one request; return undefined to fall through to the defaults. */
export type Responder = (request: RecordedRequest) => CannedResponse | undefined;

export class FakeOpenSearch {
  readonly requests: RecordedRequest[] = [];
  /** Consulted first, in order; the first one to answer wins. */
  readonly responders: Responder[] = [];
  private server: Server | null = null;
  url = "";

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void readBody(req).then((body) => {
        const request: RecordedRequest = {
          method: req.method ?? "",
          path: req.url ?? "",
          contentType: req.headers["content-type"],
          body,
        };
        this.requests.push(request);
        const response =
          this.responders.map((responder) => responder(request)).find(Boolean) ?? defaultResponse(request);
        res
          .writeHead(response.status, { "content-type": "application/json" })
          .end(JSON.stringify(response.body));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    if (!address || typeof address === "string") throw new Error("no address");
    this.url = `http://127.0.0.1:${address.port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  clear(): void {
    this.requests.length = 0;
    this.responders.length = 0;
  }

  bulkRequests(): RecordedRequest[] {
    return this.requests.filter((request) => request.method === "POST" && request.path.startsWith("/_bulk"));
  }
}

/** The NDJSON lines of a bulk body, parsed. */
export function bulkLines(request: RecordedRequest): Array<Record<string, any>> {
  return request.body
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line));
}

/** A bulk response whose items have the given statuses (errors:true when any is not 2xx). */
export function bulkResponse(
  request: RecordedRequest,
  statusOf: (action: Record<string, any>, index: number) => number,
): CannedResponse {
  const lines = bulkLines(request);
  const actions = lines.filter((_, index) => index % 2 === 0);
  const items = actions.map((action, index) => {
    const status = statusOf(action, index);
    const meta = action.index ?? {};
    const item: { _index: string; _id: string; status: number; result?: string; error?: unknown } = {
      _index: meta._index,
      _id: meta._id,
      status,
    };
    if (status >= 300) {
      item.error =
        status === 429
          ? {
              type: "es_rejected_execution_exception",
              reason: "rejected execution of coordinating operation",
            }
          : status === 503
            ? { type: "unavailable_shards_exception", reason: "primary shard is not active" }
            : { type: "mapper_parsing_exception", reason: "failed to parse field [metadata]" };
    } else {
      item.result = "created";
    }
    return { index: item };
  });
  return { status: 200, body: { took: 3, errors: items.some((item) => item.index.status >= 300), items } };
}

function defaultResponse(request: RecordedRequest): CannedResponse {
  if (request.path.startsWith("/_bulk")) return bulkResponse(request, () => 201);
  if (request.path.startsWith("/_index_template/")) return { status: 200, body: { acknowledged: true } };
  if (request.path.includes("/_search"))
    return { status: 200, body: { took: 1, timed_out: false, hits: { hits: [] } } };
  if (request.method === "PUT")
    return {
      status: 200,
      body: { acknowledged: true, shards_acknowledged: true, index: request.path.slice(1).split("?")[0] },
    };
  return { status: 404, body: { error: { type: "not_found" }, status: 404 } };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
    });
    req.on("end", () => resolve(body));
    req.on("error", reject);
  });
}
