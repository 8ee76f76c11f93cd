// Provable history over HTTP (spec §13): signed checkpoints, inclusion and consistency proofs, the
// tree's tiles, erasure and export bundles. Handlers resolve the tenant with authorize(), parse
// their parameters with their own schemas and call one verb from @vigil/shared/tlog.

import type { ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { recordAuditEvent } from "@vigil/shared/audit/record-audit-event";
import { authorize, principalId } from "@vigil/shared/auth/principal";
import { VigilError } from "@vigil/shared/errors/vigil-error";
import { ExportSlots } from "@vigil/shared/query/export-slots";
import { parseQuery } from "@vigil/shared/query/search-params";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { openSearchTarget } from "@vigil/shared/search/opensearch/opensearch-client";
import { checkpointAnchorsFromConfig } from "@vigil/shared/tlog/checkpoint-anchors";
import { listCheckpointKeys } from "@vigil/shared/tlog/checkpoint-keys-listing";
import { type CheckpointSigner, loadCheckpointSigner } from "@vigil/shared/tlog/checkpoint-signer";
import { checkpointAt, latestCheckpoint } from "@vigil/shared/tlog/checkpoint-store";
import { Checkpointer } from "@vigil/shared/tlog/checkpointer";
import { ERASABLE_FIELDS, eraseEvent, erasureRequestSchema } from "@vigil/shared/tlog/erase-event";
import { bundleParamsSchema, exportBundle } from "@vigil/shared/tlog/export-bundle";
import { checkpointConsistencyProof, eventInclusionProof } from "@vigil/shared/tlog/proofs";
import { readTileForServing } from "@vigil/shared/tlog/serve-tiles";
import type { Context } from "hono";
import type { ApiDependencies, AppEnv } from "../http/app-env.ts";
import { readJsonBody } from "../http/request-body.ts";
import { pullStream } from "../http/stream-response.ts";
import { problemResponses } from "./openapi-shapes.ts";

const security: Array<Record<string, string[]>> = [{ apiKey: [] }, { bearer: [] }];
const tenantQuery = z.object({ tenant_id: z.uuid().optional() });
const treeSize = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,15})$/, "must be a tree size (a non-negative integer)")
  .transform(Number);
const base64Hash = z.string().describe("32-byte hash, standard base64");

const proofResponse = z.object({
  seq: z.number().int(),
  leaf_index: z.number().int(),
  tree_size: z.number().int(),
  leaf_hash: base64Hash,
  inclusion_path: z.array(base64Hash),
  checkpoint: z.string(),
});
const consistencyResponse = z.object({
  from: z.number().int(),
  to: z.number().int(),
  consistency_path: z.array(base64Hash),
  checkpoint_from: z.string(),
  checkpoint_to: z.string(),
});
const keysResponse = z.object({
  keys: z.array(
    z.object({
      verifier_key: z.string(),
      key_name: z.string(),
      key_id: z.string(),
      current: z.boolean(),
      configured: z.boolean(),
      valid_from: z.string().nullable(),
      valid_until: z.string().nullable(),
    }),
  ),
});
const erasureResponse = z.object({
  id: z.uuid(),
  seq: z.number().int(),
  erased: z.object({ at: z.string(), by: z.string(), fields: z.array(z.enum(ERASABLE_FIELDS)) }),
  erasure_event_id: z.uuid(),
});

const noteResponse = (description: string) => ({
  description,
  content: { "text/plain": { schema: z.string() } },
});

/** The tenant a read acts on: its own, or the one a platform admin names with `tenant_id`. */
function readTenant(c: Context<AppEnv>, permission: "events:read" | "events:cleanup" = "events:read") {
  const tenantId = authorize(c.get("principal"), permission, c.req.query("tenant_id"))!;
  c.set("tenantId", tenantId);
  return tenantScope(tenantId);
}

/** The query string without `tenant_id`, parsed by `schema`. */
function queryOf<Schema extends z.ZodType>(c: Context<AppEnv>, schema: Schema): z.infer<Schema> {
  const params = new URL(c.req.url).searchParams;
  params.delete("tenant_id");
  return parseQuery(schema, params);
}

const noteText = (note: string) =>
  new Response(note, {
    status: 200,
    headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" },
  });

export function registerTlogRoutes(app: OpenAPIHono<AppEnv>, deps: ApiDependencies) {
  // Read once, at the first use: keys come from configuration or a file, never the database.
  let signer: Promise<CheckpointSigner | null> | undefined;
  const checkpointSigner = () => {
    signer ??= loadCheckpointSigner(deps.config);
    return signer;
  };
  let checkpointer: Promise<Checkpointer | null> | undefined;
  const onDemandCheckpointer = () => {
    checkpointer ??= checkpointSigner().then((loaded) =>
      loaded
        ? new Checkpointer(deps.db, {
            origin: deps.config.VIGIL_LOG_ORIGIN,
            signer: loaded,
            anchors: checkpointAnchorsFromConfig(deps.config),
            logger: deps.logger.child({ subsystem: "checkpointer" }),
          })
        : null,
    );
    return checkpointer;
  };
  const bundleSlots = new ExportSlots({
    perProcess: deps.config.EXPORT_MAX_CONCURRENT,
    perTenant: deps.config.EXPORT_MAX_CONCURRENT_PER_TENANT,
  });
  const searchIndex = deps.config.OPENSEARCH_URL
    ? openSearchTarget(deps.config.OPENSEARCH_URL, deps.config.OPENSEARCH_INDEX_PREFIX)
    : undefined;

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/checkpoints/latest",
      summary: "The tenant's latest signed checkpoint (C2SP tlog-checkpoint as a signed note)",
      security,
      request: { query: tenantQuery },
      responses: {
        200: noteResponse("The signed note"),
        404: noteResponse("No checkpoint yet"),
        ...problemResponses,
      },
    }),
  );
  app.get("/api/v1/checkpoints/latest", async (c) => {
    const scope = readTenant(c);
    const checkpoint = await deps.db.withTenant(scope.tenantId, (tx) => latestCheckpoint(tx, scope.tenantId));
    if (!checkpoint) throw new VigilError("NOT_FOUND", "no checkpoint has been signed for this tenant yet");
    return noteText(checkpoint.note);
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/checkpoints/key",
      summary: "The current checkpoint verifier key (`<name>+<key id>+<base64 key>`), public",
      responses: { 200: noteResponse("The verifier key"), ...problemResponses },
    }),
  );
  app.get("/api/v1/checkpoints/key", async () => {
    const loaded = await checkpointSigner();
    const current = loaded?.keys[0];
    if (!current) throw new VigilError("NOT_FOUND", "no checkpoint signing key is configured");
    return new Response(`${current.verifier_key}\n`, {
      headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "max-age=300" },
    });
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/checkpoints/keys",
      summary: "Every checkpoint verifier key with its validity window (the first is current), public",
      responses: {
        200: { description: "The keys", content: { "application/json": { schema: keysResponse } } },
        ...problemResponses,
      },
    }),
  );
  app.get("/api/v1/checkpoints/keys", async (c) => {
    const loaded = await checkpointSigner();
    return c.json({ keys: await listCheckpointKeys(deps.db, loaded?.keys ?? []) });
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/checkpoints/consistency",
      summary: "RFC 9162 consistency proof between two signed checkpoints, with both notes",
      security,
      request: { query: z.object({ from: treeSize, to: treeSize, ...tenantQuery.shape }) },
      responses: {
        200: { description: "The proof", content: { "application/json": { schema: consistencyResponse } } },
        404: { description: "No checkpoint was signed at one of the sizes" },
        ...problemResponses,
      },
    }),
  );
  app.get("/api/v1/checkpoints/consistency", async (c) => {
    const scope = readTenant(c);
    const { from, to } = queryOf(c, z.strictObject({ from: treeSize, to: treeSize }));
    return c.json(await checkpointConsistencyProof(deps.db, scope, from, to));
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/checkpoints",
      summary: "The signed checkpoint at tree size `size` (404 when none was signed at that size)",
      security,
      request: { query: z.object({ size: treeSize, ...tenantQuery.shape }) },
      responses: { 200: noteResponse("The signed note"), ...problemResponses },
    }),
  );
  app.get("/api/v1/checkpoints", async (c) => {
    const scope = readTenant(c);
    const { size } = queryOf(c, z.strictObject({ size: treeSize }));
    const checkpoint = await deps.db.withTenant(scope.tenantId, (tx) =>
      checkpointAt(tx, scope.tenantId, size),
    );
    if (!checkpoint) {
      throw new VigilError("NOT_FOUND", `no checkpoint was signed at tree size ${size}`, [
        { path: "size", message: "must be a tree size a checkpoint was signed at" },
      ]);
    }
    return noteText(checkpoint.note);
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "post",
      path: "/api/v1/checkpoints",
      summary: "Sign a checkpoint of the tenant's tree now (tenant admins, platform admins)",
      security,
      request: { query: tenantQuery },
      responses: {
        201: {
          description: "Signed (or the latest, when the tree has not grown)",
          content: {
            "application/json": {
              schema: z.object({ tree_size: z.number().int(), created: z.boolean(), checkpoint: z.string() }),
            },
          },
        },
        ...problemResponses,
      },
    }),
  );
  app.post("/api/v1/checkpoints", async (c) => {
    const scope = readTenant(c, "events:cleanup");
    const loaded = await onDemandCheckpointer();
    if (!loaded) throw new VigilError("NOT_FOUND", "no checkpoint signing key is configured");
    const { checkpoint, created } = await loaded.signTenant(scope);
    return c.json(
      { tree_size: checkpoint.tree_size, created, checkpoint: checkpoint.note },
      created ? 201 : 200,
    );
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/logs/{id}/proof",
      summary: "Inclusion proof of one event in a signed tree (default: the latest checkpoint)",
      description:
        "409 with Retry-After when no checkpoint covers the event yet; 404 when `size` is not a size a checkpoint was signed at.",
      security,
      request: {
        params: z.object({ id: z.uuid() }),
        query: z.object({ size: treeSize.optional(), ...tenantQuery.shape }),
      },
      responses: {
        200: { description: "The proof", content: { "application/json": { schema: proofResponse } } },
        409: { description: "Not yet covered by a checkpoint (Retry-After)" },
        ...problemResponses,
      },
    }),
  );
  app.get("/api/v1/logs/:id{[0-9a-fA-F-]{36}}/proof", async (c) => {
    const scope = readTenant(c);
    const { size } = queryOf(c, z.strictObject({ size: treeSize.optional() }));
    const id = z.uuid().parse(c.req.param("id")).toLowerCase();
    return c.json(
      await eventInclusionProof(deps.db, scope, id, {
        size,
        retryAfterSeconds: deps.config.CHECKPOINT_INTERVAL_SECONDS,
      }),
    );
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "post",
      path: "/api/v1/logs/{id}/erasure",
      summary: "Erase an event's personal data (tenant admins); seq, leaf and hash stay provable",
      description: `Removes the named fields (default: ${ERASABLE_FIELDS.join(", ")}) and the event's salt, and records the erasure as its own event. Reads then show \`erased: {at, by, fields}\`.`,
      security,
      request: {
        params: z.object({ id: z.uuid() }),
        query: tenantQuery,
        body: { content: { "application/json": { schema: erasureRequestSchema } }, required: true },
      },
      responses: {
        200: { description: "Erased", content: { "application/json": { schema: erasureResponse } } },
        409: { description: "Already erased" },
        ...problemResponses,
      },
    }),
  );
  app.post("/api/v1/logs/:id{[0-9a-fA-F-]{36}}/erasure", async (c) => {
    const scope = readTenant(c, "events:cleanup");
    const id = c.req.param("id").toLowerCase();
    const body = erasureRequestSchema.safeParse(await readJsonBody(c, 16 * 1024));
    if (!body.success) {
      throw new VigilError(
        "VALIDATION_FAILED",
        `erasure request: ${body.error.issues[0]?.path.join(".") || "(body)"} ${body.error.issues[0]?.message}`,
        body.error.issues.map((issue) => ({
          path: issue.path.join(".") || "(body)",
          message: issue.message,
        })),
      );
    }
    return c.json(
      await eraseEvent(
        { db: deps.db, recorder: deps, actor: principalId(c.get("principal")), searchIndex },
        scope,
        id,
        body.data,
      ),
    );
  });

  // The export's bundle format (the other formats are query-routes.ts's): registered first, it
  // answers format=bundle and passes every other export on.
  app.get("/api/v1/logs/export", async (c, next) => {
    if (c.req.query("format") !== "bundle") return next();
    const scope = readTenant(c);
    const params = queryOf(c, bundleParamsSchema);
    const principal = c.get("principal");
    const progress = { events: 0, bytes: 0, completed: false };
    // Bundles hold a connection and a snapshot like other exports, so they are capped the same way.
    const releaseSlot = bundleSlots.acquire(scope.tenantId);
    const bundle = exportBundle(deps.db, scope, params, {
      retryAfterSeconds: deps.config.CHECKPOINT_INTERVAL_SECONDS,
      progress,
    });
    // The first chunk runs every check (coverage, removed rows): a refusal is still a problem+json.
    const first = await bundle.next().catch((error) => {
      releaseSlot();
      throw error;
    });
    await recordAuditEvent(deps, scope.tenantId, {
      action_type: "VIEW",
      action: "vigil.events.export",
      resource_type: "vigil.audit_log",
      resource_id: scope.tenantId,
      user_id: principalId(principal),
      metadata: {
        format: "bundle",
        from_seq: params.from_seq ?? 1,
        to_seq: params.to_seq ?? null,
        request_id: c.get("requestId"),
      },
    }).catch(async (error) => {
      await bundle.return(undefined);
      releaseSlot();
      throw error;
    });
    const started = performance.now();
    async function* all() {
      if (!first.done) yield first.value;
      yield* bundle;
    }
    const body = pullStream(
      Readable.from(all()),
      (error) => {
        releaseSlot();
        const line = {
          request_id: c.get("requestId"),
          tenant_id: scope.tenantId,
          format: "bundle",
          events: progress.events,
          bytes: progress.bytes,
          completed: progress.completed,
          duration_ms: Math.round(performance.now() - started),
        };
        if (error && !progress.completed) deps.logger.warn({ ...line, err: error }, "bundle export stopped");
        else deps.logger.info(line, "bundle export finished");
      },
      {
        stallTimeoutMs: deps.config.EXPORT_STALL_TIMEOUT_MS,
        onStall: () => (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing?.destroy(),
      },
    );
    return new Response(body, {
      status: 200,
      headers: {
        "Content-Type": "application/x-tar",
        "Content-Disposition": `attachment; filename="vigil-${scope.tenantId}-bundle.tar"`,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
      },
    });
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/tlog/{tenant_id}/tile/{tile_path}",
      summary: "A tile of the tenant's Merkle tree (C2SP tlog-tiles, height 8): tile/<L>/<N>[.p/<W>]",
      description:
        "Full tiles never change and are served as immutable; a partial tile is a prefix of the full one.",
      security,
      request: { params: z.object({ tenant_id: z.uuid(), tile_path: z.string() }) },
      responses: {
        200: {
          description: "The tile's hashes, 32 bytes each",
          content: { "application/octet-stream": { schema: z.string() } },
        },
        ...problemResponses,
      },
    }),
  );
  app.get("/api/v1/tlog/:tenant_id{[0-9a-fA-F-]{36}}/tile/*", async (c) => {
    const tenantId = authorize(c.get("principal"), "events:read", c.req.param("tenant_id"))!;
    c.set("tenantId", tenantId);
    const path = c.req.path.slice(c.req.path.indexOf("/tile/") + 1).replace(/\/$/, "");
    const tile = await readTileForServing(deps.db, tenantScope(tenantId), path);
    return new Response(new Uint8Array(tile.data), {
      status: 200,
      headers: {
        "Content-Type": "application/octet-stream",
        "Cache-Control": tile.full ? "private, max-age=31536000, immutable" : "no-cache",
      },
    });
  });
}
