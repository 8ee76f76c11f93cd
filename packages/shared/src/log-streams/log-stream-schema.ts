// Log streams (spec §12): a tenant's events delivered to its own tools — a webhook, an S3 bucket,
// Splunk's HTTP Event Collector or Datadog's log intake — at least once and in seq order per
// destination. This file holds the request and response shapes, validated once here and used by
// the api's routes, their OpenAPI document and the delivery loop.
import { z } from "zod";
import { SEVERITIES } from "../events/event-schema.ts";
import { storableString } from "../events/storable-text.ts";

export const LOG_STREAM_DESTINATIONS = ["webhook", "s3", "splunk_hec", "datadog"] as const;
export type LogStreamDestination = (typeof LOG_STREAM_DESTINATIONS)[number];

/** `paused` is set by the tenant; `failing` and `dead` by the delivery loop. */
export const LOG_STREAM_STATES = ["active", "paused", "failing", "dead"] as const;
export type LogStreamState = (typeof LOG_STREAM_STATES)[number];

const httpUrl = z
  .string()
  .max(2048, "must be at most 2048 characters")
  .pipe(storableString())
  .superRefine((value, ctx) => {
    const url = URL.canParse(value) ? new URL(value) : null;
    if (!url) ctx.addIssue({ code: "custom", message: "must be an absolute URL" });
    else if (url.protocol !== "http:" && url.protocol !== "https:")
      ctx.addIssue({ code: "custom", message: "must be an http(s) URL" });
    else if (url.username || url.password)
      ctx.addIssue({ code: "custom", message: "must not carry credentials" });
  });

/** S3 bucket naming rules (the general-purpose bucket rules, lower case, 3–63 characters). */
const bucketName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be a valid S3 bucket name (3–63 of a-z 0-9 . -)")
  .refine(
    (value) => !value.includes("..") && !/^\d+\.\d+\.\d+\.\d+$/.test(value),
    "must be a valid S3 bucket name",
  );

const objectPrefix = z
  .string()
  .max(256, "must be at most 256 characters")
  .regex(/^[A-Za-z0-9!_.*'()/-]*$/, "may hold only letters, digits and ! _ . * ' ( ) / -")
  .refine((value) => !value.startsWith("/"), "must not start with /");

const shortText = (max: number) => z.string().min(1, "must not be empty").max(max).pipe(storableString());

/** A credential sent in an HTTP header: visible ASCII only (no spaces, no line breaks). */
const headerCredential = z
  .string()
  .min(1, "must not be empty")
  .max(256)
  .regex(/^[\x21-\x7e]+$/, "may hold only visible ASCII characters");

const filterList = <T extends z.ZodType>(item: T) => z.array(item).max(50, "at most 50 values").optional();

export const logStreamFiltersSchema = z
  .object({
    severity: filterList(z.enum(SEVERITIES)),
    action: filterList(shortText(128)),
    resource_type: filterList(shortText(128)),
  })
  .strict();
export type LogStreamFilters = z.infer<typeof logStreamFiltersSchema>;

/** Where events go. Secrets (HEC token, Datadog API key) are write-only: never read back. */
export const logStreamTargetSchema = z.discriminatedUnion("destination", [
  z.object({ destination: z.literal("webhook"), url: httpUrl }).strict(),
  z
    .object({
      destination: z.literal("s3"),
      bucket: bucketName,
      prefix: objectPrefix.default(""),
      // Becomes part of the S3 host name: a bare region label, nothing a host could be built from.
      region: z
        .string()
        .regex(/^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/, "must be a region name (a-z 0-9 -)")
        .optional(),
    })
    .strict(),
  z
    .object({
      destination: z.literal("splunk_hec"),
      url: httpUrl,
      token: headerCredential,
      index: shortText(128).optional(),
      source: shortText(128).optional(),
    })
    .strict(),
  z
    .object({
      destination: z.literal("datadog"),
      url: httpUrl.default("https://http-intake.logs.datadoghq.com"),
      api_key: headerCredential,
      service: shortText(128).default("vigil"),
      tags: shortText(512).optional(),
    })
    .strict(),
]);
export type LogStreamTarget = z.infer<typeof logStreamTargetSchema>;

export const logStreamCreateSchema = z
  .object({
    name: shortText(128),
    target: logStreamTargetSchema,
    filters: logStreamFiltersSchema.default({}),
  })
  .strict();
export type LogStreamCreate = z.infer<typeof logStreamCreateSchema>;

export const logStreamUpdateSchema = z
  .object({
    name: shortText(128).optional(),
    filters: logStreamFiltersSchema.optional(),
    /** `active` re-enables a dead or paused stream; `paused` stops delivery until then. */
    state: z.enum(["active", "paused"]).optional(),
    /** Webhooks: a new signing secret; the old one keeps signing beside it for `overlap_seconds`. */
    rotate_secret: z.boolean().optional(),
    overlap_seconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400)
      .default(86_400),
  })
  .strict();
export type LogStreamUpdate = z.infer<typeof logStreamUpdateSchema>;

/** What the api returns: the target without its secrets, and the delivery state. */
export interface LogStreamView {
  id: string;
  tenant_id: string;
  name: string;
  target: Record<string, unknown>;
  filters: LogStreamFilters;
  state: LogStreamState;
  committed_seq: number;
  delivered_events: number;
  last_delivered_at: string | null;
  last_error: string | null;
  last_error_at: string | null;
  failing_since: string | null;
  created_at: string;
  /** Only in the answer that creates the stream or rotates its secret: shown once. */
  signing_secret?: string;
}

/** Target fields that are credentials: stored sealed, never returned. */
export const TARGET_SECRET_FIELDS = ["token", "api_key"] as const;
