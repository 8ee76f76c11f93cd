// Test fixtures: realistic events (salted, hashed as the service stores them) and a signed tree.
import { randomBytes, randomUUID } from "node:crypto";
import {
  appendLeaves,
  computeEventHash,
  eventLeafHash,
  MemoryTileStore,
  type NoteSigner,
  signCheckpoint,
  treeHash,
} from "../src/index.ts";

export const TENANT = "9b2c9c0e-4c1e-4e53-9d43-0f1bd1fdf9b1";
export const ORIGIN = `vigil.test/log/${TENANT}`;

export type TestEvent = Record<string, unknown> & { seq: number; id: string; hash: string };

const SAMPLE_STATES = [
  null,
  { amount: 12.5, currency: "EUR", tags: ["a", "b"] },
  { ü: 1, a: { z: [1, 2, { y: null }], "\u00e9": "caf\u00e9 \u2603 \ud83d\ude00" }, big: 1e21, small: 1e-7 },
  { quote: 'say "hi"\n\t', control: "\u0001\u001f", neg: -0, list: [true, false, null] },
];

export function makeEvent(seq: number, options: { salt?: boolean } = {}): TestEvent {
  const event: Record<string, unknown> = {
    id: randomUUID(),
    tenant_id: TENANT,
    seq,
    occurred_at: new Date(Date.UTC(2026, 0, 1) + seq * 1000).toISOString(),
    received_at: new Date(Date.UTC(2026, 0, 1) + seq * 1000 + 17).toISOString(),
    action_type: ["CREATE", "UPDATE", "DELETE", "VIEW"][seq % 4],
    action: `invoice.${seq % 3 === 0 ? "approve" : "view"}`,
    resource_type: "invoice",
    resource_id: `inv-${seq}`,
    user_id: seq % 5 === 0 ? null : `user-${seq % 7}`,
    session_id: seq % 2 === 0 ? `sess-${seq}` : null,
    ip_address: seq % 3 === 0 ? "2001:db8::1" : "192.0.2.7",
    user_agent: "Mozilla/5.0 (X11; Linux x86_64)",
    severity: ["INFO", "WARNING", "ERROR", "CRITICAL"][seq % 4],
    outcome: seq % 6 === 0 ? "failure" : "success",
    before_state: SAMPLE_STATES[seq % SAMPLE_STATES.length],
    after_state: SAMPLE_STATES[(seq + 1) % SAMPLE_STATES.length],
    metadata: seq % 2 === 0 ? { request_id: `req-${seq}`, n: seq } : null,
    redacted: seq % 4 === 0 ? ["metadata.password"] : [],
  };
  if (options.salt !== false) event.salt = randomBytes(16).toString("base64url");
  event.hash_version = options.salt === false ? 1 : 2;
  event.hash = computeEventHash(event);
  return event as TestEvent;
}

/** A log of `size` events, its tiles, and a checkpoint at `size` signed by `signer`. */
export async function makeLog(size: number, signer: NoteSigner) {
  const events = Array.from({ length: size }, (_, i) => makeEvent(i + 1, { salt: i % 10 !== 3 }));
  const store = new MemoryTileStore();
  store.write(
    await appendLeaves(
      0,
      events.map((e) => eventLeafHash(e.seq, e.id, e.hash)),
      store,
    ),
  );
  const rootHash = await treeHash(size, store);
  const note = await signCheckpoint({ origin: ORIGIN, size, rootHash }, signer);
  return { events, store, rootHash, note };
}

export function testSigner(name = "vigil-test"): NoteSigner {
  return { name, privateKeySeed: new Uint8Array(randomBytes(32)) };
}
