// The event hash: hex SHA-256 of the RFC 8785 canonical JSON of every stored field. The per-tenant
// chain hash links each event to the one before it (by seq), so a deleted or reordered row is as
// detectable as an edited one.
import { createHash } from "node:crypto";
import { canonicalFieldsJson } from "./canonical-json.ts";
import { HASHED_FIELDS, type StoredEvent } from "./event-schema.ts";

export const GENESIS_CHAIN_HASH = "0".repeat(64);

export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

const hashedFieldsJson = canonicalFieldsJson(HASHED_FIELDS);

export function computeEventHash(event: Omit<StoredEvent, "hash">): string {
  return sha256Hex(hashedFieldsJson(event));
}

export function computeChainHash(previousChainHash: string, eventHash: string): string {
  return sha256Hex(`${previousChainHash}${eventHash}`);
}
