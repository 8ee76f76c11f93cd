// Random single-byte corruption of a bundle: verifyBundle never throws, and every corruption of a
// byte that carries meaning is reported. Only bytes no verifier can or should check may change
// silently: tar padding, the second end-of-archive block, and the uncovered `hash_version` value.
import { describe, expect, it } from "vitest";
import { proveRange, TAR_BLOCK, verifierKeyOf, verifyBundle, writeBundle } from "../src/index.ts";
import { makeLog, testSigner } from "./fixtures.ts";

describe("bundle corruption", () => {
  it("reports every meaningful single-byte change and never throws", async () => {
    const signer = testSigner();
    const log = await makeLog(64, signer);
    const key = await verifierKeyOf(signer);
    const lines = Buffer.from(
      log.events
        .slice(9, 41)
        .map((e) => `${JSON.stringify(e)}\n`)
        .join(""),
    );
    const proof = await proveRange(9, 41, 64, log.store);
    const chunks: Uint8Array[] = [];
    const entries: Array<{ start: number; length: number }> = [];
    for await (const chunk of writeBundle({ checkpoint: log.note, proof }, lines.length, [lines])) {
      chunks.push(chunk);
    }
    const good = Buffer.concat(chunks);
    // Entry data positions, from the headers (each: 512-byte header, data, padding).
    for (let at = 0; entries.length < 3; ) {
      const size = Number.parseInt(good.subarray(at + 124, at + 135).toString(), 8);
      entries.push({ start: at + TAR_BLOCK, length: size });
      at += TAR_BLOCK + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
    }
    const events = entries[2]!;
    const endMarker = events.start + Math.ceil(events.length / TAR_BLOCK) * TAR_BLOCK;
    const uncovered = new Set<number>();
    for (const match of lines.toString("latin1").matchAll(/"hash_version":\d/g)) {
      // The member is not covered by the hash: its name and value may change unnoticed.
      for (let i = 1; i < match[0].length; i++) uncovered.add(events.start + match.index! + i);
    }
    const mayPass = (position: number) =>
      position >= endMarker + TAR_BLOCK ||
      uncovered.has(position) ||
      entries.some(
        (e) =>
          position >= e.start + e.length && position < e.start + Math.ceil(e.length / TAR_BLOCK) * TAR_BLOCK,
      );

    expect((await verifyBundle([good], { verifierKeys: [key] })).ok).toBe(true);
    let random = 12345;
    const next = () => (random = (random * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 400; i++) {
      // Half the flips land in the meaningful data (entries), half anywhere.
      const position =
        i % 2 === 0 ? next() % good.length : entries[next() % 3]!.start + (next() % entries[i % 3]!.length);
      const corrupt = Buffer.from(good);
      corrupt[position] = corrupt[position]! ^ (1 << (next() % 8));
      const report = await verifyBundle([corrupt], { verifierKeys: [key] });
      if (!mayPass(position)) {
        const context = `${good.subarray(position - 40, position).toString("latin1")}[${good.subarray(position, position + 1).toString("latin1")}→${corrupt.subarray(position, position + 1).toString("latin1")}]${good.subarray(position + 1, position + 20).toString("latin1")}`;
        expect(report.ok, `byte ${position} of ${good.length}: ${context}`).toBe(false);
      }
      if (!report.ok) expect(report.problems.length).toBeGreaterThan(0);
    }
  });
});
