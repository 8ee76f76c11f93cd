// Anchoring checkpoints outside the database: whoever holds the database could otherwise rewrite
// the tree and the checkpoint table together. Each new checkpoint is written to object storage
// (with Object Lock retention when the bucket has Object Lock, so not even the bucket owner can
// overwrite it before it expires) and/or appended to a local file, one JSON line per checkpoint.
import { appendFile } from "node:fs/promises";
import {
  GetObjectLockConfigurationCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
} from "@aws-sdk/client-s3";
import type { VigilConfig } from "../config/config.ts";

export interface AnchoredCheckpoint {
  tenant_id: string;
  tree_size: number;
  note: string;
}

export interface CheckpointAnchor {
  readonly name: string;
  anchor(checkpoint: AnchoredCheckpoint): Promise<void>;
}

/** Object key of a checkpoint: sizes zero-padded so a listing is in tree order. */
export function checkpointObjectKey(tenantId: string, treeSize: number): string {
  return `checkpoints/${tenantId}/${String(treeSize).padStart(16, "0")}`;
}

export interface S3AnchorOptions {
  bucket: string;
  region: string;
  /** An S3-compatible endpoint (fauxqs, LocalStack, MinIO): path-style addressing. */
  endpoint?: string;
  retentionDays: number;
}

/**
 * An S3 client for AWS (default credential chain) or, given an endpoint, an emulator (path style).
 * `maxAttempts` 1 is for callers that retry with their own backoff (the log-stream deliverer).
 */
export function s3Client(
  region: string,
  endpoint?: string,
  options: { maxAttempts?: number } = {},
): S3Client {
  return new S3Client({
    region,
    ...options,
    ...(endpoint
      ? {
          endpoint,
          forcePathStyle: true,
          // Emulators accept any credentials; on AWS the default provider chain supplies real ones.
          credentials: { accessKeyId: "vigil", secretAccessKey: "vigil" },
        }
      : {}),
  });
}

export class S3CheckpointAnchor implements CheckpointAnchor {
  readonly name = "s3";
  readonly #client: S3Client;
  #objectLock: Promise<boolean> | null = null;

  constructor(readonly options: S3AnchorOptions) {
    this.#client = s3Client(options.region, options.endpoint);
  }

  /** Whether the bucket has Object Lock; asked once (a bucket cannot turn it off). */
  objectLockEnabled(): Promise<boolean> {
    this.#objectLock ??= this.#client
      .send(new GetObjectLockConfigurationCommand({ Bucket: this.options.bucket }))
      .then(
        (answer) => answer.ObjectLockConfiguration?.ObjectLockEnabled === "Enabled",
        () => false, // no Object Lock configuration (or an emulator without the API)
      );
    return this.#objectLock;
  }

  async anchor(checkpoint: AnchoredCheckpoint): Promise<void> {
    const input: PutObjectCommandInput = {
      Bucket: this.options.bucket,
      Key: checkpointObjectKey(checkpoint.tenant_id, checkpoint.tree_size),
      Body: checkpoint.note,
      ContentType: "text/plain; charset=utf-8",
    };
    if (await this.objectLockEnabled()) {
      input.ObjectLockMode = "COMPLIANCE";
      input.ObjectLockRetainUntilDate = new Date(Date.now() + this.options.retentionDays * 86_400_000);
    }
    await this.#client.send(new PutObjectCommand(input));
  }

  close(): void {
    this.#client.destroy();
  }
}

/** Appends `{"tenant_id","tree_size","note"}` lines to a local file (an append-only medium, ideally). */
export class FileCheckpointAnchor implements CheckpointAnchor {
  readonly name = "file";
  constructor(readonly path: string) {}

  async anchor(checkpoint: AnchoredCheckpoint): Promise<void> {
    await appendFile(this.path, `${JSON.stringify(checkpoint)}\n`, { mode: 0o644 });
  }
}

export function checkpointAnchorsFromConfig(config: VigilConfig): CheckpointAnchor[] {
  const anchors: CheckpointAnchor[] = [];
  if (config.CHECKPOINT_S3_BUCKET) {
    anchors.push(
      new S3CheckpointAnchor({
        bucket: config.CHECKPOINT_S3_BUCKET,
        region: config.AWS_REGION,
        endpoint: config.CHECKPOINT_S3_ENDPOINT,
        retentionDays: config.CHECKPOINT_S3_RETENTION_DAYS,
      }),
    );
  }
  if (config.CHECKPOINT_ANCHOR_FILE) anchors.push(new FileCheckpointAnchor(config.CHECKPOINT_ANCHOR_FILE));
  return anchors;
}
