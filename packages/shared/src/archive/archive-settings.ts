// A tenant's archive settings (spec §12): `archive: {enabled, bucket?, prefix?}`, patched through
// PATCH /api/v1/tenants/{id}. Bucket names follow S3's naming rules, so a bad one is a 400 naming
// `archive.bucket` now rather than a failed sweep later; the prefix is a key prefix, not a path.
import { z } from "zod";
import { isStorable, UNSTORABLE_MESSAGE } from "../events/storable-text.ts";

export interface ArchiveSettings {
  enabled: boolean;
  /** null: the deployment's ARCHIVE_S3_BUCKET. */
  bucket: string | null;
  prefix: string;
}

/** S3 general-purpose bucket naming rules (docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html). */
export function bucketNameProblem(name: string): string | null {
  if (name.length < 3 || name.length > 63) return "must be 3 to 63 characters";
  if (!/^[a-z0-9.-]+$/.test(name)) return "may hold only lowercase letters, digits, dots and hyphens";
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return "must begin and end with a letter or digit";
  if (name.includes("..")) return "must not hold two adjacent dots";
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return "must not be formatted as an IP address";
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name)) return "must not begin with xn--, sthree- or amzn-s3-demo-";
  if (/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name))
    return "must not end with an S3 reserved suffix";
  return null;
}

export const bucketNameSchema = z.string("must be a string").superRefine((name, ctx) => {
  const problem = bucketNameProblem(name);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** Keys are `<prefix><tenant id>/…`: a prefix of safe key characters, ending in `/` when not empty. */
export const archivePrefixSchema = z
  .string("must be a string")
  .max(256, "must be at most 256 characters")
  .refine(isStorable, UNSTORABLE_MESSAGE)
  .refine((prefix) => /^[A-Za-z0-9!_.*'()/-]*$/.test(prefix), "may hold only letters, digits and !_.*'()/-")
  .refine((prefix) => !prefix.startsWith("/"), "must not begin with /")
  .refine(
    (prefix) => !prefix.split("/").some((part) => part === "." || part === ".."),
    "must not hold . or .. segments",
  )
  .refine((prefix) => !prefix.includes("//"), "must not hold //")
  .transform((prefix) => (prefix && !prefix.endsWith("/") ? `${prefix}/` : prefix));

export const archiveSettingsPatchSchema = z
  .strictObject({
    enabled: z.boolean("must be true or false").optional(),
    bucket: bucketNameSchema.nullable().optional(),
    prefix: archivePrefixSchema.optional(),
  })
  .refine((patch) => Object.keys(patch).length > 0, "send at least one of enabled, bucket, prefix");

export type ArchiveSettingsPatch = z.infer<typeof archiveSettingsPatchSchema>;

export function applyArchivePatch(current: ArchiveSettings, patch: ArchiveSettingsPatch): ArchiveSettings {
  return {
    enabled: patch.enabled ?? current.enabled,
    bucket: patch.bucket === undefined ? current.bucket : patch.bucket,
    prefix: patch.prefix ?? current.prefix,
  };
}
