// Validates a parsed request body against its zod schema; every failure is a 422 whose errors name
// the offending fields (unknown fields included), so clients know what to fix.
import type { z } from "zod";
import { fieldErrorsFromIssues, VigilError } from "./vigil-error.ts";

export function parseBody<Schema extends z.ZodType>(schema: Schema, body: unknown): z.infer<Schema> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const errors = fieldErrorsFromIssues(parsed.error.issues);
  throw new VigilError(
    "VALIDATION_FAILED",
    `invalid field \`${errors[0]?.path}\`: ${errors[0]?.message}`,
    errors,
  );
}
