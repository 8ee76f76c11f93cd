// A stand-in for an OpenSearch cluster in tests where no cluster can run: a node:http server on
// 127.0.0.1 that records every request (method, path, raw body) and answers with canned
// OpenSearch responses. Tests assert the exact requests Vigil sends; the real-cluster suite
// (OPENSEARCH_URL) checks the same code against OpenSearch itself.
//
// Stateful mode (`new FakeOpenSearch({ stateful: true })`) also keeps the documents of `_bulk`
// index/delete actions by `_id` and answers `_count`, `_search` and `_delete_by_query` for the
// queries Vigil sends (bool filter of term/terms/range/simple_query_string, sort, search_after);
// `deleteDocuments` removes documents behind Vigil's back.
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

export interface StoredDocument {
  index: string;
  routing: string | undefined;
  source: Record<string, any>;
}

export class FakeOpenSearch {
  readonly requests: RecordedRequest[] = [];
  /** Consulted first, in order; the first one to answer wins. */
  readonly responders: Responder[] = [];
  /** Stateful mode: the documents, by `_id`. */
  readonly documents = new Map<string, StoredDocument>();
  private server: Server | null = null;
  url = "";

  constructor(private readonly options: { stateful?: boolean } = {}) {}

  /** Removes the documents `match` selects, as an operator (or a lost shard) would; returns how many. */
  deleteDocuments(match: (document: StoredDocument, id: string) => boolean): number {
    let removed = 0;
    for (const [id, document] of this.documents)
      if (match(document, id)) {
        this.documents.delete(id);
        removed++;
      }
    return removed;
  }

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
          this.responders.map((responder) => responder(request)).find(Boolean) ??
          (this.options.stateful ? this.statefulResponse(request) : undefined) ??
          defaultResponse(request);
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

  private statefulResponse(request: RecordedRequest): CannedResponse | undefined {
    const [pathname = ""] = request.path.split("?");
    if (pathname === "/_bulk") return this.applyBulk(request);
    const body = request.body ? JSON.parse(request.body) : {};
    const pattern = pathname.split("/")[1] ?? "";
    const matching = () =>
      [...this.documents.entries()].filter(
        ([, document]) => indexMatches(pattern, document.index) && queryMatches(body.query, document.source),
      );
    if (pathname.endsWith("/_count")) return { status: 200, body: { count: matching().length } };
    if (pathname.endsWith("/_delete_by_query")) {
      const hits = matching();
      for (const [id] of hits) this.documents.delete(id);
      return { status: 200, body: { deleted: hits.length, failures: [] } };
    }
    if (pathname.endsWith("/_search")) return { status: 200, body: searchResponse(matching(), body) };
    return undefined;
  }

  private applyBulk(request: RecordedRequest): CannedResponse {
    const lines = bulkLines(request);
    const items: Array<Record<string, unknown>> = [];
    for (let index = 0; index < lines.length; index++) {
      const action = lines[index]!;
      if (action.delete) {
        const found = this.documents.delete(action.delete._id);
        items.push({ delete: { _id: action.delete._id, status: found ? 200 : 404 } });
        continue;
      }
      const meta = action.index ?? action.create ?? {};
      const source = lines[++index] ?? {};
      const existed = this.documents.has(meta._id);
      this.documents.set(meta._id, { index: meta._index, routing: meta.routing, source });
      items.push({
        index: { _index: meta._index, _id: meta._id, status: existed ? 200 : 201, result: "created" },
      });
    }
    return { status: 200, body: { took: 1, errors: false, items } };
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

/** `vigil-events-*` or a comma list of such patterns against one index name. */
function indexMatches(pattern: string, index: string): boolean {
  return decodeURIComponent(pattern)
    .split(",")
    .some((part) => (part.endsWith("*") ? index.startsWith(part.slice(0, -1)) : index === part));
}

function queryMatches(query: Record<string, any> | undefined, source: Record<string, any>): boolean {
  if (!query || query.match_all) return true;
  if (query.bool) {
    const must = [...(query.bool.filter ?? []), ...(query.bool.must ?? [])];
    return must.every((clause: Record<string, any>) => queryMatches(clause, source));
  }
  if (query.term) {
    const [field, value] = Object.entries(query.term)[0]!;
    const wanted = typeof value === "object" && value !== null ? (value as { value: unknown }).value : value;
    return valuesOf(source[field]).some((item) => item === wanted);
  }
  if (query.terms) {
    const [field, values] = Object.entries(query.terms)[0]! as [string, unknown[]];
    return valuesOf(source[field]).some((item) => values.includes(item));
  }
  if (query.range) {
    const [field, bounds] = Object.entries(query.range)[0]! as [string, Record<string, unknown>];
    const value = comparable(source[field]);
    if (value === undefined) return false;
    const bound = (key: string) => comparable(bounds[key]);
    return (
      (bounds.gte === undefined || value >= bound("gte")!) &&
      (bounds.gt === undefined || value > bound("gt")!) &&
      (bounds.lte === undefined || value <= bound("lte")!) &&
      (bounds.lt === undefined || value < bound("lt")!)
    );
  }
  if (query.simple_query_string) {
    // Enough for tests: every plain word must appear in search_text.
    const text = String(source.search_text ?? "").toLowerCase();
    return String(query.simple_query_string.query)
      .split(/\s+/)
      .filter((word) => word && !/^[|-]/.test(word))
      .every((word) => text.includes(word.replace(/"/g, "").toLowerCase()));
  }
  throw new Error(`fake OpenSearch: unsupported query ${JSON.stringify(query)}`);
}

function valuesOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

/** Numbers as they are; date strings as epoch milliseconds (how OpenSearch compares dates). */
function comparable(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string") {
    const asNumber = Number(value);
    return Number.isNaN(asNumber) ? Date.parse(value) : asNumber;
  }
  return undefined;
}

function searchResponse(hits: Array<[string, StoredDocument]>, body: Record<string, any>) {
  const sort: Array<[string, "asc" | "desc"]> = (body.sort ?? []).map((entry: Record<string, any>) => {
    const [field, spec] = Object.entries(entry)[0]!;
    return [field, (spec as { order?: "asc" | "desc" }).order ?? "asc"];
  });
  const sortValues = (source: Record<string, any>) => sort.map(([field]) => comparable(source[field]) ?? 0);
  const compare = (a: number[], b: number[]) => {
    for (let index = 0; index < sort.length; index++) {
      const delta = a[index]! - b[index]!;
      if (delta !== 0) return sort[index]![1] === "asc" ? delta : -delta;
    }
    return 0;
  };
  let ordered = hits
    .map(([id, document]) => ({ id, document, values: sortValues(document.source) }))
    .sort((a, b) => compare(a.values, b.values));
  if (body.search_after) {
    const after = (body.search_after as unknown[]).map((value) => comparable(value) ?? 0);
    ordered = ordered.filter((hit) => compare(hit.values, after) > 0);
  }
  const excludes: string[] = body._source?.excludes ?? [];
  return {
    took: 1,
    timed_out: false,
    hits: {
      hits: ordered.slice(0, body.size ?? 10).map((hit) => ({
        _index: hit.document.index,
        _id: hit.id,
        _source: Object.fromEntries(
          Object.entries(hit.document.source).filter(([key]) => !excludes.includes(key)),
        ),
        sort: hit.values,
      })),
    },
  };
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
