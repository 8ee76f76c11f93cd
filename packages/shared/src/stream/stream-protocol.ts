// The wire protocol of GET /api/v1/logs/stream (spec §6): subprotocols, server messages and close
// codes, in one place so the streamer, the tests and any client agree on them.
import type { StoredEvent } from "../events/event-schema.ts";

/** The subprotocol the server answers with; clients offer it next to `bearer.<token>`. */
export const STREAM_SUBPROTOCOL = "vigil.v1";
export const BEARER_SUBPROTOCOL_PREFIX = "bearer.";
export const STREAM_PATH = "/api/v1/logs/stream";

export const STREAM_CLOSE_CODES = {
  /** The server restarts or shuts down: reconnect (to any streamer) with `since`. */
  serviceRestart: 1012,
  /** Something failed on the server side (e.g. the database); reconnect with `since` later. */
  internalError: 1011,
  /** Dead peer: no pong within a ping interval. */
  goingAway: 1001,
  /** The consumer did not read fast enough; reconnect with `since` to continue. */
  slowConsumer: 4008,
  /**
   * The credential no longer authorises the stream: its access token expired, or its API key was
   * revoked, its user disabled or deleted. Reconnect only with a new credential.
   */
  credentialRevoked: 4401,
  /** The tenant was suspended or deactivated: its streams are closed and new ones refused. */
  tenantNotActive: 4403,
} as const;

export type StreamErrorCode =
  | "SLOW_CONSUMER"
  | "SERVICE_RESTART"
  | "STREAM_UNAVAILABLE"
  | "CREDENTIAL_EXPIRED"
  | "CREDENTIAL_REVOKED"
  | "TENANT_NOT_ACTIVE";

export type StreamServerMessage =
  | { type: "event"; data: StoredEvent }
  | { type: "ready"; seq: number }
  | { type: "error"; code: StreamErrorCode; message: string };

/** One event message, serialized once and shared by every subscriber it goes to. */
export function encodeEventMessage(event: StoredEvent): Buffer {
  return Buffer.from(`{"type":"event","data":${JSON.stringify(event)}}`);
}

export function encodeReadyMessage(seq: number): Buffer {
  return Buffer.from(JSON.stringify({ type: "ready", seq } satisfies StreamServerMessage));
}

export function encodeErrorMessage(code: StreamErrorCode, message: string): Buffer {
  return Buffer.from(JSON.stringify({ type: "error", code, message } satisfies StreamServerMessage));
}
