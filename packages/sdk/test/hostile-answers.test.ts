// Attacker-controlled answers and inputs the other hostile tests do not cover: JSON answers with
// NUL, 1e400 and 100,000-deep nesting, a garbage cursor, a server that stops reading the request
// body, stream frames that are huge or deep; and log() fed NUL, Infinity, deep state and one past
// each limit. Each ends in a value or a typed error within bounded time, never a crash or a throw.
import { createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { describe, expect, test } from "vitest";
import { EVENT_LIMITS, VigilClient, VigilConnectionError } from "../src/index.ts";
import type { WebSocketLike } from "../src/live-stream.ts";

const deepJson = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

function answering(body: string, seen: string[] = []) {
  return new VigilClient({
    baseUrl: "http://vigil.test",
    apiKey: "vgl_test",
    fetch: async (url) => {
      seen.push(String(url));
      return new Response(body, { status: 200, headers: { "Content-Type": "application/json" } });
    },
  });
}

describe("reads against hostile JSON answers", () => {
  test("NUL, 1e400 and 100,000-deep nesting parse or fail as typed errors", async () => {
    const page = await answering(
      '{"data":[{"resource_id":"a\\u0000b","seq":1e400}],"next_cursor":null}',
    ).searchPage();
    expect(page.data[0]).toMatchObject({ resource_id: "a\u0000b", seq: Number.POSITIVE_INFINITY });
    const deep = answering(`{"data":[${deepJson(100_000)}],"next_cursor":null}`);
    const outcome = await deep.searchPage().then(
      () => "parsed",
      (error: unknown) => (error instanceof VigilConnectionError ? "typed error" : error),
    );
    expect(["parsed", "typed error"]).toContain(outcome);
    await expect(answering(deepJson(100_000)).stats()).resolves.toBeTypeOf("object");
  });

  test("a garbage cursor from the server is sent back encoded, never as extra query parameters", async () => {
    const seen: string[] = [];
    let calls = 0;
    const client = new VigilClient({
      baseUrl: "http://vigil.test",
      apiKey: "vgl_test",
      fetch: async (url) => {
        seen.push(String(url));
        const next = calls++ === 0 ? "x&tenant_id=other#\u0000/../" : null;
        return Response.json({ data: [{ seq: calls }], next_cursor: next });
      },
    });
    const events = [];
    for await (const event of client.search({ limit: 1 })) events.push(event);
    expect(events).toHaveLength(2);
    const second = new URL(seen[1]!);
    expect(second.searchParams.get("cursor")).toBe("x&tenant_id=other#\u0000/../");
    expect(second.searchParams.has("tenant_id")).toBe(false);
  });

  /** A server answering page n (from 0) with `answer(n)`; it gives up after 50 pages. */
  function paging(answer: (n: number) => { data: unknown[]; next_cursor: string | null }) {
    const seen: string[] = [];
    const client = new VigilClient({
      baseUrl: "http://vigil.test",
      apiKey: "vgl_test",
      fetch: async (url) => {
        seen.push(String(url));
        if (seen.length > 50) return new Response("paged too long", { status: 418 });
        return Response.json(answer(seen.length - 1));
      },
    });
    return { client, seen };
  }

  async function drain(pages: AsyncGenerator<unknown>): Promise<{ items: number; error: unknown }> {
    let items = 0;
    try {
      for await (const _ of pages) items++;
    } catch (error) {
      return { items, error };
    }
    return { items, error: null };
  }

  test.each([
    ["the same cursor every time", (_n: number) => "again"],
    ["a cycle of cursors (a → b → c → a)", (n: number) => "abc"[n % 3]!],
  ])("%s: search() and history() stop with a typed error, never page forever or yield a page twice", async (_name, cursorOf) => {
    for (const read of [
      (client: VigilClient) => client.search({ limit: 1 }),
      (client: VigilClient) => client.history("invoice", "1"),
    ]) {
      const { client, seen } = paging((n) => ({ data: [{ seq: n + 1 }], next_cursor: cursorOf(n) }));
      const { items, error } = await drain(read(client));
      expect(error).toBeInstanceOf(VigilConnectionError);
      expect((error as Error).message).toMatch(/cursor .* again/);
      const distinct = new Set(seen.map((url) => new URL(url).searchParams.get("cursor"))).size;
      expect(seen).toHaveLength(distinct); // no cursor was followed twice
      expect(items).toBe(seen.length);
    }
  });

  test("empty pages that keep promising more stop with a typed error; one empty page in between does not", async () => {
    const endless = paging((n) => ({ data: [], next_cursor: `c${n}` }));
    const { items, error } = await drain(endless.client.search());
    expect(items).toBe(0);
    expect(error).toBeInstanceOf(VigilConnectionError);
    expect((error as Error).message).toMatch(/empty pages/);
    expect(endless.seen.length).toBeLessThanOrEqual(5);
    // A lone empty page (a page boundary that fell on the last match) is followed on to the end.
    const gap = paging((n) => ({ data: n === 1 ? [] : [{ seq: n }], next_cursor: n < 3 ? `c${n}` : null }));
    expect(await drain(gap.client.search())).toEqual({ items: 3, error: null });
  });
});

describe("ingest against a server that stops reading the request body", () => {
  test("the attempt times out, the batch is kept, and shutdown keeps its deadline", async () => {
    const sockets = new Set<Socket>();
    let requests = 0;
    const server = createServer((req) => {
      requests++;
      req.pause(); // never reads the body, never answers
    });
    server.on("connection", (socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const client = new VigilClient({
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        apiKey: "vgl_test",
        requestTimeoutMs: 300,
        maxBatchBytes: 4 * 1024 * 1024,
        retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 1_000 },
      });
      const metadata = { blob: "x".repeat(60 * 1024) };
      for (let index = 0; index < 60; index++)
        expect(
          client.log({ action_type: "VIEW", resource_type: "a", resource_id: `r${index}`, metadata })
            .accepted,
        ).toBe(true);
      void client.flush();
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect(requests).toBeGreaterThanOrEqual(2);
      const started = Date.now();
      expect(await client.shutdown({ timeoutMs: 300 })).toMatchObject({ sent: 0, dropped: 0, pending: 60 });
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("stream() against hostile frames", () => {
  test("a 20 MB frame, a 100,000-deep frame, garbage and non-integer seqs are skipped; the next event is yielded", async () => {
    class FakeSocket implements WebSocketLike {
      onopen: WebSocketLike["onopen"] = null;
      onmessage: WebSocketLike["onmessage"] = null;
      onerror: WebSocketLike["onerror"] = null;
      onclose: WebSocketLike["onclose"] = null;
      readyState = 1;
      constructor() {
        setTimeout(() => {
          this.onopen?.({} as never);
          for (const data of [
            `{"type":"event","data":{"seq":1,"resource_id":"${"x".repeat(20 * 1024 * 1024)}"}}`,
            `{"type":"event","data":${deepJson(100_000)}}`,
            "\u0000not json",
            // Not seqs: skipped, so they cannot make the next event look already seen.
            '{"type":"event","data":{"seq":1e400,"resource_id":"inf"}}',
            '{"type":"ready","seq":1.5}',
            '{"type":"event","data":{"seq":2,"resource_id":"ok"}}',
          ])
            this.onmessage?.({ data } as never);
        }, 1);
      }
      send() {}
      close() {
        this.onclose?.({ code: 1000, reason: "" } as never);
      }
    }
    const client = new VigilClient({
      baseUrl: "http://vigil.test",
      apiKey: "vgl_test",
      WebSocket: FakeSocket as never,
    });
    const seen: unknown[] = [];
    for await (const event of client.stream()) {
      seen.push(event.seq);
      if (event.seq === 2) break;
    }
    expect(seen).toContain(2);
  });
});

describe("log() with hostile values", () => {
  const base = { action_type: "UPDATE", resource_type: "invoice", resource_id: "inv-1" } as const;
  const nested = (depth: number) => {
    let value: Record<string, unknown> = {};
    for (let level = 1; level < depth; level++) value = { a: value };
    return value;
  };
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["NUL in user_id", { user_id: "u\u0000" }, /^invalid: user_id /],
    ["NUL in a metadata value", { metadata: { note: "a\u0000" } }, /^invalid: metadata /],
    ["NUL in a metadata key", { metadata: { "k\u0000": 1 } }, /^invalid: metadata /],
    ["100,000-deep after_state", { after_state: nested(100_000) }, /after_state/],
    [
      "depth one past the limit",
      { metadata: nested(EVENT_LIMITS.maxJsonDepth + 1) },
      /^invalid: metadata nesting/,
    ],
    ["resource_type 129", { resource_type: "t".repeat(129) }, /^invalid: resource_type /],
    ["resource_id 257", { resource_id: "r".repeat(257) }, /^invalid: resource_id /],
    ["user_id 257", { user_id: "u".repeat(257) }, /^invalid: user_id /],
    ["session_id 257", { session_id: "s".repeat(257) }, /^invalid: session_id /],
    ["user_agent 1025", { user_agent: "a".repeat(1025) }, /^invalid: user_agent /],
    ["action 129", { action: "a".repeat(129) }, /^invalid: action /],
    [
      "state one byte past 64 KiB",
      { before_state: { b: "x".repeat(EVENT_LIMITS.maxStateBytes - 8 + 1) } },
      /^invalid: before_state /,
    ],
  ];
  test.each(cases)("%s: refused with a reason naming the field, never a throw", (_name, fields, reason) => {
    const client = new VigilClient({
      baseUrl: "http://vigil.test",
      apiKey: "vgl_test",
      fetch: async () => new Response("{}"),
    });
    let result: ReturnType<VigilClient["log"]> | undefined;
    expect(() => {
      result = client.log({ ...base, ...fields } as never);
    }).not.toThrow();
    expect(result).toMatchObject({ accepted: false, reason: expect.stringMatching(reason) });
  });

  test("at each limit exactly the event is accepted", () => {
    const client = new VigilClient({
      baseUrl: "http://vigil.test",
      apiKey: "vgl_test",
      fetch: async () => new Response("{}"),
    });
    expect(client.log({ ...base, metadata: nested(EVENT_LIMITS.maxJsonDepth) }).accepted).toBe(true);
    expect(client.log({ ...base, resource_id: "r".repeat(256) }).accepted).toBe(true);
    expect(
      client.log({ ...base, before_state: { b: "x".repeat(EVENT_LIMITS.maxStateBytes - 8) } }).accepted,
    ).toBe(true);
  });

  test("Infinity (1e400) and NaN in a state: accepted and sent as JSON null (as JSON.stringify writes them)", async () => {
    const bodies: string[] = [];
    const client = new VigilClient({
      baseUrl: "http://vigil.test",
      apiKey: "vgl_test",
      fetch: async (_url, init) => {
        bodies.push(String(init?.body));
        return new Response('{"accepted":1}', { status: 202 });
      },
    });
    const result = client.log({ ...base, metadata: { amount: JSON.parse("1e400"), nan: Number.NaN } });
    expect(result.accepted).toBe(true);
    await client.flush();
    expect(bodies).toHaveLength(1);
    expect(JSON.parse(bodies[0]!)[0].metadata).toEqual({ amount: null, nan: null });
  });
});
