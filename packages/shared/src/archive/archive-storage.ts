// Object storage for archives: where an archive-enabled tenant's objects go (its bucket or the
// deployment's), written as S3 users expect (Content-Type, Content-Encoding, server-side
// encryption, Object Lock retention when the bucket has it), and read back for restore and verify.
import { createHash } from "node:crypto";
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  GetObjectLockConfigurationCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { VigilConfig } from "../config/config.ts";
import { VigilError } from "../errors/vigil-error.ts";
import { s3Client } from "../tlog/checkpoint-anchors.ts";
import { ARCHIVE_OBJECT_READ_LIMIT } from "./archive-format.ts";
import type { ArchiveSettings } from "./archive-settings.ts";

export interface ArchiveStorageOptions {
  region: string;
  /** An S3-compatible endpoint (fauxqs, LocalStack, MinIO): path-style addressing. */
  endpoint?: string;
  defaultBucket?: string;
  sse: "AES256" | "aws:kms";
  kmsKeyId?: string;
  objectLockDays: number;
}

export interface ArchiveTarget {
  bucket: string;
  prefix: string;
}

export class ArchiveStorage {
  readonly #client: S3Client;
  readonly #objectLock = new Map<string, Promise<boolean>>();

  constructor(readonly options: ArchiveStorageOptions) {
    this.#client = s3Client(options.region, options.endpoint);
  }

  /** The tenant's bucket, else the deployment's; null when neither is set (nothing may be deleted). */
  targetOf(settings: ArchiveSettings): ArchiveTarget | null {
    const bucket = settings.bucket ?? this.options.defaultBucket;
    return bucket ? { bucket, prefix: settings.prefix } : null;
  }

  /** Whether the bucket has Object Lock; asked once per bucket (a bucket cannot turn it off). */
  objectLockEnabled(bucket: string): Promise<boolean> {
    let known = this.#objectLock.get(bucket);
    if (!known) {
      known = this.#client.send(new GetObjectLockConfigurationCommand({ Bucket: bucket })).then(
        (answer) => answer.ObjectLockConfiguration?.ObjectLockEnabled === "Enabled",
        () => false, // no Object Lock configuration (or an emulator without the API)
      );
      this.#objectLock.set(bucket, known);
    }
    return known;
  }

  async put(
    bucket: string,
    key: string,
    body: Uint8Array | string,
    type: { contentType: string; contentEncoding?: string },
  ): Promise<void> {
    const input: PutObjectCommandInput = {
      Bucket: bucket,
      Key: key,
      Body: body,
      // S3 refuses a PutObject with Object Lock retention unless it carries Content-MD5 or an
      // x-amz-checksum-*; Content-MD5 is accepted everywhere (LocalStack, MinIO) and checked end to end.
      ContentMD5: createHash("md5").update(body).digest("base64"),
      ContentType: type.contentType,
      ...(type.contentEncoding ? { ContentEncoding: type.contentEncoding } : {}),
      ServerSideEncryption: this.options.sse,
      ...(this.options.sse === "aws:kms" && this.options.kmsKeyId
        ? { SSEKMSKeyId: this.options.kmsKeyId }
        : {}),
    };
    if (this.options.objectLockDays > 0 && (await this.objectLockEnabled(bucket))) {
      input.ObjectLockMode = "COMPLIANCE";
      input.ObjectLockRetainUntilDate = new Date(Date.now() + this.options.objectLockDays * 86_400_000);
    }
    await this.#client.send(new PutObjectCommand(input)).catch((error) => {
      throw unavailable(bucket, key, error);
    });
  }

  /** The object's bytes; an object larger than `maxBytes` (a tampered bucket) is refused unread. */
  async get(bucket: string, key: string, maxBytes = ARCHIVE_OBJECT_READ_LIMIT): Promise<Buffer> {
    let answer: GetObjectCommandOutput;
    try {
      answer = await this.#client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    } catch (error) {
      throw unavailable(bucket, key, error);
    }
    if ((answer.ContentLength ?? 0) > maxBytes) {
      answer.Body?.transformToWebStream()
        .cancel()
        .catch(() => undefined);
      throw new VigilError(
        "ARCHIVE_INVALID",
        `archive object s3://${bucket}/${key} is larger than any Vigil writes`,
      );
    }
    try {
      return Buffer.from(await answer.Body!.transformToByteArray());
    } catch (error) {
      throw unavailable(bucket, key, error);
    }
  }

  /** Every key under `prefix`, in key order. */
  async list(bucket: string, prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#client
        .send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }))
        .catch((error) => {
          throw unavailable(bucket, prefix, error);
        });
      for (const item of page.Contents ?? []) if (item.Key) keys.push(item.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  close(): void {
    this.#client.destroy();
  }
}

/** Names the object and the S3 error code, never credentials or response bodies. */
function unavailable(bucket: string, key: string, error: unknown): VigilError {
  const name = (error as { name?: string }).name ?? "Error";
  return new VigilError("ARCHIVE_UNAVAILABLE", `archive storage failed on s3://${bucket}/${key} (${name})`);
}

export function archiveStorageFromConfig(config: VigilConfig): ArchiveStorage {
  return new ArchiveStorage({
    region: config.AWS_REGION,
    endpoint: config.ARCHIVE_S3_ENDPOINT,
    defaultBucket: config.ARCHIVE_S3_BUCKET,
    sse: config.ARCHIVE_S3_SSE,
    kmsKeyId: config.ARCHIVE_S3_KMS_KEY_ID,
    objectLockDays: config.ARCHIVE_OBJECT_LOCK_DAYS,
  });
}

const perConfig = new WeakMap<VigilConfig, ArchiveStorage>();

/** One archive client per process configuration (the api's cleanup and restore routes share it). */
export function sharedArchiveStorage(config: VigilConfig): ArchiveStorage {
  let storage = perConfig.get(config);
  if (!storage) {
    storage = archiveStorageFromConfig(config);
    perConfig.set(config, storage);
  }
  return storage;
}
