// Response shapes for the OpenAPI document, built from the shared schemas.
import { z } from "@hono/zod-openapi";
import { normalizedEventSchema } from "@vigil/shared/events/event-schema";

export const storedEventSchema = normalizedEventSchema.omit({ payload_hash: true, salt: true }).extend({
  seq: z.number().int().positive(),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  /** Present once the event's personal data was erased (POST /api/v1/logs/{id}/erasure). */
  erased: z.object({ at: z.string(), by: z.string(), fields: z.array(z.string()) }).optional(),
});

export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
  request_id: z.string(),
  errors: z
    .array(z.object({ path: z.string(), message: z.string(), index: z.number().int().optional() }))
    .optional(),
});

export const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: problemSchema } },
});

export const json = <T extends z.ZodType>(description: string, schema: T) => ({
  description,
  content: { "application/json": { schema } },
});

export const problemResponses = {
  400: problem("Malformed JSON or parameters"),
  401: problem("No or invalid credential"),
  403: problem("Role, scope, tenant or suspended tenant"),
  413: problem("Too large"),
  415: problem("Not JSON"),
  422: problem("Schema violation"),
  429: problem("Rate limited"),
  503: problem("Queue or database unavailable"),
};
