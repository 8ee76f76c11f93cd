// `pnpm vigil archive verify --tenant ID [--bucket B] [--prefix P] [--endpoint URL]`: checks a
// tenant's archive objects against their manifests offline (no database): SHA-256, counts, every
// event's hash, chain links and roll-ups. Each object and each seq is counted once (a retried or
// concurrent run's second manifest is reported as superseded, not added). Exit 0 when everything
// checks, 3 otherwise.
import { parseArgs } from "node:util";
import { archivePrefixSchema, bucketNameProblem } from "@vigil/shared/archive/archive-settings";
import { ArchiveStorage } from "@vigil/shared/archive/archive-storage";
import { verifyArchiveBucket } from "@vigil/shared/archive/verify-archive-bucket";
import { archiveSettingsFromEnvironment } from "@vigil/shared/config/config";

export const ARCHIVE_USAGE = `  archive verify --tenant ID [--bucket B] [--prefix P] [--endpoint URL]
                                            check a tenant's archive objects against their manifests offline
                                            (bucket default: ARCHIVE_S3_BUCKET; endpoint: ARCHIVE_S3_ENDPOINT)`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class ArchiveUsageError extends Error {}

export async function runArchiveCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "verify") throw new ArchiveUsageError(`unknown command: archive ${sub ?? ""}`.trim());
  const { values } = parseArgs({
    args: rest,
    options: {
      tenant: { type: "string" },
      bucket: { type: "string" },
      prefix: { type: "string" },
      endpoint: { type: "string" },
    },
  });
  if (!values.tenant || !UUID.test(values.tenant))
    throw new ArchiveUsageError("--tenant <tenant id (UUID)> is required");
  const settings = archiveSettingsFromEnvironment();
  const bucket = values.bucket ?? settings.ARCHIVE_S3_BUCKET;
  if (!bucket) throw new ArchiveUsageError("--bucket is required (or set ARCHIVE_S3_BUCKET)");
  const bucketProblem = bucketNameProblem(bucket);
  if (bucketProblem) throw new ArchiveUsageError(`--bucket ${bucketProblem}`);
  const prefix = archivePrefixSchema.safeParse(values.prefix ?? "");
  if (!prefix.success) throw new ArchiveUsageError(`--prefix ${prefix.error.issues[0]?.message}`);
  const storage = new ArchiveStorage({
    region: settings.AWS_REGION,
    endpoint: values.endpoint ?? settings.ARCHIVE_S3_ENDPOINT,
    sse: "AES256",
    objectLockDays: 0,
  });
  try {
    const report = await verifyArchiveBucket(storage, {
      bucket,
      prefix: prefix.data,
      tenantId: values.tenant.toLowerCase(),
    });
    console.log(JSON.stringify(report, null, 2));
    return report.ok ? 0 : 3;
  } finally {
    storage.close();
  }
}
