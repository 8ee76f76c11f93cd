// log() is called from inside applications: whatever it is handed, it returns at once, never
// throws, and sends only valid, redacted events. A recording fetch stands in for the api here (the
// pipeline tests prove delivery); this file is about what log() accepts and what leaves the process.
import { describe, expect, test } from "vitest";
import { type DropInfo, VigilClient } from "../src/index.ts";

function recordingClient(options: Partial<ConstructorParameters<typeof VigilClient>[0]> = {}) {
  const bodies: unknown[][] = [];
  const drops: DropInfo[] = [];
  const client = new VigilClient({
    baseUrl: "http://vigil.test",
    apiKey: "vgl_test",
    fetch: async (_url, init) => {
      bodies.push(JSON.parse(String(init?.body)));
      return new Response('{"accepted":1}', { status: 202 });
    },
    onDrop: (info) => drops.push(info),
    ...options,
  });
  return { client, bodies, drops };
}

const base = { action_type: "UPDATE", resource_type: "invoice", resource_id: "inv-1" } as const;

describe("log() with hostile input", () => {
  test("never throws and refuses what cannot be sent, with a reason", () => {
    const { client, drops } = recordingClient();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const throwingGetter = Object.defineProperty({ ...base }, "user_id", {
      enumerable: true,
      get() {
        throw new Error("boom");
      },
    });
    const hostile: unknown[] = [
      undefined,
      null,
      42,
      "event",
      [base],
      new Date(),
      { ...base, metadata: circular },
      { ...base, metadata: { big: 10n } },
      throwingGetter,
      new Proxy(
        {},
        {
          ownKeys: () => {
            throw new Error("trap");
          },
        },
      ),
      { ...base, occurred_at: new Date(Date.now() + 3_600_000).toISOString() },
      { ...base, occurred_at: "2026-01-01T00:00:00Z", created_at: "2026-01-02T00:00:00Z" },
      JSON.parse(
        '{"action_type":"VIEW","resource_type":"a","resource_id":"b","metadata":{"__proto__":{"x":1}}}',
      ),
      JSON.parse('{"action_type":"VIEW","resource_type":"a","resource_id":"b","__proto__":{"x":1}}'),
      { ...base, surprise: 1 },
      { ...base, after_state: { blob: "x".repeat(300 * 1024) } },
      { ...base, metadata: { a: "x".repeat(70 * 1024) }, after_state: { b: "y".repeat(70 * 1024) } },
      { ...base, id: "not-a-uuid" },
      { ...base, resource_id: "a\u0000b" },
      { ...base, ip_address: "::1\n" },
    ];
    for (const input of hostile) {
      let result: ReturnType<VigilClient["log"]> | undefined;
      expect(() => {
        result = client.log(input as never);
      }).not.toThrow();
      expect(result?.accepted, JSON.stringify(String(input)).slice(0, 80)).toBe(false);
      expect(result?.reason).toMatch(/^invalid: /);
    }
    expect(drops).toHaveLength(hostile.length);
    expect(drops.map((drop) => drop.message)).toContain("__proto__ is not a known field");
    expect(({} as { x?: unknown }).x).toBeUndefined();
    expect(client.counters()).toMatchObject({ accepted: 0, dropped: hostile.length });
  });

  test("what leaves the process is redacted at any depth and carries the id log() returned", async () => {
    const { client, bodies } = recordingClient();
    const input = {
      ...base,
      metadata: {
        headers: { Authorization: "Bearer abc.def.ghi", "X-Api-Key": "k" },
        nested: [{ card_number: "4111111111111111", safe: "ok" }],
      },
      after_state: { password: "hunter2", profile: { clientSecret: "s" } },
    };
    const result = client.log(input);
    expect(result.accepted).toBe(true);
    expect(input.after_state.password).toBe("hunter2"); // the caller's object is not modified
    await client.flush();
    const [sent] = bodies[0] as Array<Record<string, any>>;
    expect(sent!.id).toBe(result.id);
    expect(sent!.occurred_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    const text = JSON.stringify(sent);
    for (const secret of ["abc.def.ghi", "4111111111111111", "hunter2", '"s"'])
      expect(text).not.toContain(secret);
    expect(sent!.metadata.nested[0].safe).toBe("ok");
  });

  test("after shutdown log() refuses with reason shutdown; a client id and created_at are kept", async () => {
    const { client, bodies } = recordingClient();
    const id = "0190b1d4-8f7e-7c2a-9d3e-1a2b3c4d5e6f";
    expect(client.log({ ...base, id, created_at: "2026-01-01T00:00:00Z" })).toEqual({ id, accepted: true });
    expect(await client.shutdown()).toEqual({ sent: 1, dropped: 0, pending: 0, failed: 0 });
    expect(bodies[0]).toEqual([expect.objectContaining({ id, occurred_at: "2026-01-01T00:00:00Z" })]);
    expect((bodies[0]![0] as object & { created_at?: string }).created_at).toBeUndefined();
    expect(client.log(base)).toMatchObject({ accepted: false, reason: "shutdown" });
  });

  test("10,000 calls batch into requests of at most batchSize and maxBatchBytes", async () => {
    const { client, bodies } = recordingClient({ batchSize: 300, maxBatchBytes: 64 * 1024 });
    for (let index = 0; index < 10_000; index++) client.log({ ...base, resource_id: `inv-${index}` });
    expect(await client.shutdown()).toEqual({ sent: 10_000, dropped: 0, pending: 0, failed: 0 });
    expect(bodies.flat()).toHaveLength(10_000);
    expect(Math.max(...bodies.map((body) => body.length))).toBeLessThanOrEqual(300);
    expect(Math.max(...bodies.map((body) => JSON.stringify(body).length))).toBeLessThanOrEqual(64 * 1024);
    expect(new Set(bodies.flat().map((event: any) => event.id)).size).toBe(10_000);
  });
});
