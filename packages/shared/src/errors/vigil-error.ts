// One error type with a closed set of codes. Transports turn it into application/problem+json;
// anything that is not a VigilError is an internal error whose message never reaches a client.

export const ERROR_CODES = {
  BAD_REQUEST: { status: 400, title: "Bad request" },
  MALFORMED_JSON: { status: 400, title: "Malformed JSON" },
  INVALID_PARAMETER: { status: 400, title: "Invalid parameter" },
  INVALID_CURSOR: { status: 400, title: "Invalid cursor" },
  UNAUTHENTICATED: { status: 401, title: "Authentication required" },
  INVALID_CREDENTIAL: { status: 401, title: "Invalid credential" },
  FORBIDDEN: { status: 403, title: "Forbidden" },
  TENANT_MISMATCH: { status: 403, title: "Tenant mismatch" },
  TENANT_NOT_ACTIVE: { status: 403, title: "Tenant is not active" },
  NOT_FOUND: { status: 404, title: "Not found" },
  METHOD_NOT_ALLOWED: { status: 405, title: "Method not allowed" },
  CONFLICT: { status: 409, title: "Conflict" },
  PAYLOAD_TOO_LARGE: { status: 413, title: "Payload too large" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: "Unsupported media type" },
  VALIDATION_FAILED: { status: 422, title: "Validation failed" },
  RATE_LIMITED: { status: 429, title: "Too many requests" },
  INTERNAL: { status: 500, title: "Internal error" },
  QUEUE_UNAVAILABLE: { status: 503, title: "Queue unavailable" },
  DATABASE_UNAVAILABLE: { status: 503, title: "Database unavailable" },
  SEARCH_UNAVAILABLE: { status: 503, title: "Search index unavailable" },
  ARCHIVE_UNAVAILABLE: { status: 503, title: "Archive storage unavailable" },
  ARCHIVE_INVALID: { status: 502, title: "Archive failed its integrity check" },
  TIMEOUT: { status: 504, title: "Timed out" },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** One field-level problem; `index` is set for bulk items. */
export interface FieldError {
  path: string;
  message: string;
  index?: number;
}

export class VigilError extends Error {
  readonly status: number;
  readonly title: string;

  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly errors?: FieldError[],
    readonly headers?: Record<string, string>,
  ) {
    super(detail);
    this.name = "VigilError";
    this.status = ERROR_CODES[code].status;
    this.title = ERROR_CODES[code].title;
  }
}

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  request_id: string;
  errors?: FieldError[];
}

/** The single mapping from any thrown value to the problem+json body clients see. */
export function toProblem(error: unknown, requestId: string): ProblemDocument {
  if (error instanceof VigilError) {
    return {
      type: `https://vigil.dev/problems/${error.code.toLowerCase().replaceAll("_", "-")}`,
      title: error.title,
      status: error.status,
      detail: error.detail,
      code: error.code,
      request_id: requestId,
      ...(error.errors?.length ? { errors: error.errors } : {}),
    };
  }
  return {
    type: "https://vigil.dev/problems/internal",
    title: ERROR_CODES.INTERNAL.title,
    status: 500,
    detail: "An unexpected error occurred; quote the request id when reporting it.",
    code: "INTERNAL",
    request_id: requestId,
  };
}

/** Turns zod issues into field errors whose path names the field the client sent. */
export function fieldErrorsFromIssues(
  issues: ReadonlyArray<{
    path: ReadonlyArray<PropertyKey>;
    message: string;
    code?: string;
    keys?: string[];
  }>,
  index?: number,
): FieldError[] {
  return issues.flatMap((issue) => {
    const base = issue.path.map(String).join(".");
    // Unknown keys are reported once per key so the client sees which field to remove.
    if (issue.code === "unrecognized_keys" && issue.keys?.length) {
      return issue.keys.map((key) => ({
        path: base ? `${base}.${key}` : key,
        message: "unknown field",
        ...(index === undefined ? {} : { index }),
      }));
    }
    return [{ path: base || "(body)", message: issue.message, ...(index === undefined ? {} : { index }) }];
  });
}
