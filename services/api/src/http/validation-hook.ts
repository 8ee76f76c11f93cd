// The one zod-to-problem hook: every route's query and path parameters are parsed by the route's
// own schemas here, and a failure is a 400 problem naming each parameter (never a raw ZodError
// or a driver error as a 500). Routes declared with `app.openapi(...)` get it as the app's
// defaultHook; handlers registered with `app.get(...)` call readQuery / readPathParams.
//
// Strings that reach PostgreSQL should use storableString() (events/storable-text.ts) or
// filterText() in their schema, so U+0000 and lone surrogates are refused here too.
import type { Hook, z } from "@hono/zod-openapi";
import { invalidParameters, parseQuery } from "@vigil/shared/query/search-params";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import type { Context } from "hono";

/** `defaultHook` of the OpenAPIHono app: a failed request schema throws the 400 problem. */
// biome-ignore lint/suspicious/noExplicitAny: the hook serves every route's schemas
export const validationHook: Hook<any, any, any, any> = (result) => {
  if (!result.success) {
    const where =
      result.target === "param" ? "path parameter" : result.target === "query" ? "query parameter" : "field";
    throw invalidParameters(result.error.issues, where);
  }
};

export interface QueryInput<T> {
  /** `tenant_id` as given (checked to be a UUID), for authorize(); null when absent. */
  tenantId: string | null;
  params: T;
}

/**
 * The query string parsed by `schema`, with `tenant_id` (which authorize() consumes: platform
 * admins name the tenant) taken out and checked first. Repeatable keys (severity, action_type)
 * become arrays; a repeated single-valued key is a 400.
 */
export function readQuery<Schema extends z.ZodType>(
  c: Context,
  schema: Schema,
  extraRepeatable: string[] = [],
): QueryInput<z.infer<Schema>> {
  const search = new URL(c.req.url).searchParams;
  const tenantValues = search.getAll("tenant_id");
  search.delete("tenant_id");
  if (tenantValues.length > 1)
    throw invalidParameters([
      { code: "custom", path: ["tenant_id"], message: "given more than once", input: "" },
    ]);
  const tenantId = tenantValues[0] ?? null;
  if (tenantId !== null) tenantScope(tenantId); // a UUID, or the 400 naming tenant_id
  return { tenantId, params: parseQuery(schema, search, extraRepeatable) };
}

/** The route's path parameters parsed by `schema` (a 400 naming the segment otherwise). */
export function readPathParams<Schema extends z.ZodType>(c: Context, schema: Schema): z.infer<Schema> {
  const parsed = schema.safeParse(c.req.param());
  if (!parsed.success) throw invalidParameters(parsed.error.issues, "path parameter");
  return parsed.data;
}
