// Typed errors: an HTTP answer that is not a success carries its problem+json body and request id;
// a transport failure (no answer at all) is a VigilConnectionError.

/** The `application/problem+json` body every Vigil error answer carries (spec §5). */
export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  code?: string;
  request_id?: string;
  errors?: Array<{ path: string; message: string; index?: number }>;
}

export class VigilApiError extends Error {
  override readonly name = "VigilApiError";
  readonly status: number;
  readonly code: string | undefined;
  readonly requestId: string | undefined;

  constructor(
    readonly problem: Problem,
    readonly retryAfterMs?: number,
  ) {
    super(`${problem.status} ${problem.code ?? problem.title ?? "error"}: ${problem.detail ?? ""}`.trim());
    this.status = problem.status;
    this.code = problem.code;
    this.requestId = problem.request_id;
  }
}

export class VigilConnectionError extends Error {
  override readonly name = "VigilConnectionError";
}

/** `Retry-After` as milliseconds (delta-seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A problem+json body is a few hundred bytes; a longer error body is not one, and is not read on. */
const MAX_PROBLEM_BYTES = 64 * 1024;

/** The body as text if it ends within `limit` bytes, else "" (the rest is never downloaded). */
async function boundedText(response: Response, limit: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) return "";
      chunks.push(value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/**
 * Reads a non-success response into a VigilApiError (never throws while doing so). Only a bounded
 * prefix of the body is read: a proxy's error page or a hostile server cannot make it buffer more.
 */
export async function apiErrorFrom(response: Response): Promise<VigilApiError> {
  let problem: Problem = { status: response.status, title: response.statusText };
  try {
    const text = await boundedText(response, MAX_PROBLEM_BYTES);
    const parsed = JSON.parse(text) as Partial<Problem>;
    if (parsed && typeof parsed === "object") problem = { ...problem, ...parsed, status: response.status };
  } catch {}
  problem.request_id ??= response.headers.get("x-request-id") ?? undefined;
  return new VigilApiError(problem, parseRetryAfter(response.headers.get("retry-after")));
}
