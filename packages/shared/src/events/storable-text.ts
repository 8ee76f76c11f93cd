// One check for text PostgreSQL can store as sent, applied to every string that reaches it: event
// fields, query parameters, path segments, names and headers used as data.
import { z } from "zod";

/**
 * U+0000 is refused by text and jsonb; unpaired UTF-16 surrogates are refused by jsonb and silently
 * turned into U+FFFD in text (which would break an event's hash). Catching them at the door keeps
 * them from reaching the queue or becoming a driver error (a 500).
 */
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const UNSTORABLE_MESSAGE = "must not contain U+0000 or unpaired surrogates";

export const isStorable = (value: string): boolean =>
  !value.includes("\u0000") && !UNPAIRED_SURROGATE.test(value);

/** True when any string or object key anywhere inside `value` is not storable. */
export function containsUnstorableText(value: unknown): boolean {
  if (typeof value === "string") return !isStorable(value);
  if (value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return value.some(containsUnstorableText);
  return Object.entries(value).some(([key, child]) => !isStorable(key) || containsUnstorableText(child));
}

/** A zod string that PostgreSQL can store, for query parameters, path segments and names. */
export const storableString = () => z.string().refine(isStorable, UNSTORABLE_MESSAGE);
