// Test support: a fresh bucket on the emulator's S3 and an archive storage client for it, as the
// archive tests (shared and worker) set them up: no Object Lock (fauxqs has none), SSE AES256.
import { ArchiveStorage, type ArchiveStorageOptions } from "@vigil/shared/archive/archive-storage";
import { ensureCheckpointBucket } from "@vigil/shared/tlog/dev-checkpoint-key";

/** Creates `bucket` at `endpoint` and returns a `Storage` (ArchiveStorage or a subclass) for it. */
export async function emulatorArchiveStorage<T extends ArchiveStorage = ArchiveStorage>(
  endpoint: string,
  bucket: string,
  Storage: new (options: ArchiveStorageOptions) => T = ArchiveStorage as new (
    options: ArchiveStorageOptions,
  ) => T,
): Promise<T> {
  await ensureCheckpointBucket(endpoint, bucket);
  return new Storage({ region: "us-east-1", endpoint, sse: "AES256", objectLockDays: 0 });
}
