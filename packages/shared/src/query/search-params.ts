// The filter vocabulary of GET /api/v1/logs (and export, stats, stream): one zod schema that
// validates query strings, documents them in OpenAPI and types the query modules.
import { z } from "zod";
import { fieldErrorsFromIssues, VigilError } from "../errors/vigil-error.ts";
import { ACTION_TYPES, OUTCOMES, rfc3339, SEVERITIES } from "../events/event-schema.ts";
import { isStorable, UNSTORABLE_MESSAGE } from "../events/storable-text.ts";

export const SORTS = ["-occurred_at", "occurred_at", "-seq", "seq", "-received_at"] as const;
export type Sort = (typeof SORTS)[number];

/** Parameters that may be given more than once (`severity=ERROR&severity=CRITICAL`). */
const REPEATABLE = new Set(["severity", "action_type"]);

/** A filter value: non-empty, bounded, and text PostgreSQL can compare (no U+0000, no lone surrogate). */
export const filterText = (max: number) =>
  z
    .string()
    .min(1, "must not be empty")
    .max(max, `must be at most ${max} characters`)
    .refine(isStorable, UNSTORABLE_MESSAGE);
const text = filterText;

/**
 * True when every alternative of a websearch query (split at `or`) holds a word that is not
 * negated. `-word` alone (or `a or -b`) matches every row *without* a word, which no index can
 * serve: it would scan the whole window, so it is refused.
 */
export function hasPositiveTermPerAlternative(query: string): boolean {
  const tokens = query.match(/-?"[^"]*"|[^\s"]+/g) ?? [];
  let positive = false;
  for (const token of tokens) {
    if (token.toLowerCase() === "or") {
      if (!positive) return false;
      positive = false;
      continue;
    }
    if (!token.startsWith("-") && /[\p{L}\p{N}]/u.test(token)) positive = true;
  }
  return positive;
}

/**
 * `q` is read with PostgreSQL's websearch syntax (words, "quoted phrases", OR, -negation), which
 * never fails to parse; input it would silently reinterpret is refused instead, naming `q`.
 */
const fullTextQuery = z
  .string()
  .min(1, "must not be empty")
  .max(256, "must be at most 256 characters")
  .refine((value) => (value.match(/"/g)?.length ?? 0) % 2 === 0, "has an unbalanced double quote")
  .refine((value) => /[\p{L}\p{N}]/u.test(value), "must contain at least one word or number")
  .refine(isStorable, UNSTORABLE_MESSAGE)
  .refine(
    hasPositiveTermPerAlternative,
    "must contain a word that is not negated (in each `or` alternative): `-word` alone would scan every event",
  );

const FIRST_PG_TIME = Date.parse("0001-01-01T00:00:00Z");

/**
 * A time parameter: RFC 3339 with a zone, and no earlier than year 1 once in UTC (PostgreSQL has
 * no year 0: `0000-01-01T00:00:00Z` would be a driver error, not the parameter's 400).
 */
export const queryTime = rfc3339.refine(
  (value) => Date.parse(value) >= FIRST_PG_TIME,
  "must be a time from year 0001 on",
);

/** An opaque cursor as sent; its content is checked by decodeCursor. */
export const cursorParam = z
  .string()
  .min(1, "must not be empty")
  .max(1024, "must be at most 1024 characters");

export const eventFilterSchema = z.strictObject({
  user_id: text(256).optional(),
  session_id: text(256).optional(),
  action_type: z.array(z.enum(ACTION_TYPES, `must be one of ${ACTION_TYPES.join(", ")}`)).optional(),
  action: text(128).optional(),
  resource_type: text(128).optional(),
  resource_id: text(256).optional(),
  severity: z.array(z.enum(SEVERITIES, `must be one of ${SEVERITIES.join(", ")}`)).optional(),
  outcome: z.enum(OUTCOMES, `must be one of ${OUTCOMES.join(", ")}`).optional(),
  from: queryTime.optional(),
  to: queryTime.optional(),
  q: fullTextQuery.optional(),
});

export type EventFilter = z.infer<typeof eventFilterSchema>;

export const searchParamsSchema = eventFilterSchema
  .extend({
    sort: z.enum(SORTS, `must be one of ${SORTS.join(", ")}`).default("-occurred_at"),
    limit: z.coerce
      .number("must be a whole number from 1 to 1000")
      .int("must be a whole number from 1 to 1000")
      .min(1, "must be a whole number from 1 to 1000")
      .max(1000, "must be a whole number from 1 to 1000")
      .default(100),
    cursor: cursorParam.optional(),
  })
  .refine((value) => !value.from || !value.to || Date.parse(value.from) <= Date.parse(value.to), {
    message: "must not be after `to`",
    path: ["from"],
  });

export type SearchParams = z.infer<typeof searchParamsSchema>;

/** Query string → object with repeatable keys as arrays; a repeated single-valued key is an error. */
export function searchParamsToObject(
  params: URLSearchParams,
  extraRepeatable: string[] = [],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const repeatable = new Set([...REPEATABLE, ...extraRepeatable]);
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    if (repeatable.has(key))
      out[key] = values.flatMap((value) => value.split(",")).filter((value) => value !== "");
    else if (values.length > 1)
      throw new VigilError("INVALID_PARAMETER", `parameter \`${key}\` may be given only once`, [
        { path: key, message: "given more than once" },
      ]);
    else out[key] = values[0];
  }
  return out;
}

/**
 * The one mapping from zod issues on request parameters (query string or path) to the 400 that
 * names each bad parameter. Every route's parameter schema failure goes through it.
 */
export function invalidParameters(issues: z.core.$ZodIssue[], where = "query parameter"): VigilError {
  const errors = fieldErrorsFromIssues(issues).map((error) =>
    error.message === "unknown field" ? { ...error, message: "unknown parameter" } : error,
  );
  return new VigilError(
    "INVALID_PARAMETER",
    `invalid ${where} \`${errors[0]?.path}\`: ${errors[0]?.message}`,
    errors,
  );
}

/** Validates a query string against `schema`, throwing a 400 that names each bad parameter. */
export function parseQuery<Schema extends z.ZodType>(
  schema: Schema,
  params: URLSearchParams,
  extraRepeatable: string[] = [],
): z.infer<Schema> {
  const parsed = schema.safeParse(searchParamsToObject(params, extraRepeatable));
  if (!parsed.success) throw invalidParameters(parsed.error.issues);
  return parsed.data;
}
