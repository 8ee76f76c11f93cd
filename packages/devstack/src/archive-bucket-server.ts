// The embedded stack's archive storage (`pnpm start`): the small part of the S3 API Vigil's archive
// uses (create/head bucket, PutObject, GetObject, ListObjectsV2, GetObjectLockConfiguration), kept
// as files under the state folder. fauxqs keeps objects in memory only, and archived rows are
// deleted once PutObject answers, so the answer must mean "on disk": each object is written to a
// temporary file, fsynced, renamed into place and its folder fsynced before the 200. A launcher that
// crashes mid-write leaves no object and no deleted rows (the service's PutObject fails, the rows
// stay); a stop, clean or not, keeps every object for the next start.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

/** S3's naming rules, simplified: what the archive settings accept (`bucketNameProblem`) fits. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** Objects larger than this are refused (Vigil writes at most ~40 MB gzipped). */
const MAX_OBJECT_BYTES = 256 * 1024 * 1024;
const LIST_MAX_KEYS = 1000;

export interface PutRecord {
  bucket: string;
  key: string;
  headers: IncomingMessage["headers"];
  bytes: number;
}

export interface ArchiveBucketServerOptions {
  /** Folder holding one sub-folder per bucket. */
  root: string;
  port?: number;
  /** Buckets that answer GetObjectLockConfiguration with an enabled rule (tests of Object Lock). */
  objectLockBuckets?: ReadonlySet<string>;
  /** Called with each PutObject's headers after the object is stored (tests). */
  onPut?: (record: PutRecord) => void;
}

export interface ArchiveBucketServer {
  endpoint: string;
  server: Server;
  stop: () => Promise<void>;
}

class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const xmlEscape = (text: string) => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** Each `/`-separated part of a key becomes one encoded path segment; `.`, `..` and empty parts are refused. */
function keyPath(bucketDir: string, key: string): string {
  const parts = key.split("/");
  if (
    !key ||
    Buffer.byteLength(key) > 1024 ||
    parts.some((part) => part === "" || part === "." || part === "..")
  )
    throw new S3Error(400, "InvalidArgument", "key not supported by this store");
  const segments = parts.map((part) => encodeURIComponent(part));
  if (segments.some((segment) => segment.length > 255))
    throw new S3Error(400, "KeyTooLongError", "key part too long");
  return path.join(bucketDir, ...segments);
}

async function* walk(dir: string, prefix: string): AsyncGenerator<{ key: string; file: string }> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const file = path.join(dir, entry.name);
    const key = `${prefix}${decodeURIComponent(entry.name)}`;
    if (entry.isDirectory()) yield* walk(file, `${key}/`);
    else if (entry.isFile()) yield { key, file };
  }
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_OBJECT_BYTES) throw new S3Error(400, "EntityTooLarge", "object too large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Writes `body` to `file` so that it is on disk when this resolves: temp file, fsync, rename, fsync folder. */
async function writeDurably(root: string, file: string, body: Buffer): Promise<void> {
  const uploads = path.join(root, ".uploads");
  await mkdir(uploads, { recursive: true });
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = path.join(uploads, randomBytes(12).toString("hex"));
  const handle = await open(temporary, "w", 0o600);
  try {
    await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
  const folder = await open(path.dirname(file), "r");
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

function sendXml(response: ServerResponse, status: number, xml: string): void {
  response.writeHead(status, { "content-type": "application/xml" });
  response.end(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`);
}

export async function startArchiveBucketServer(
  options: ArchiveBucketServerOptions,
): Promise<ArchiveBucketServer> {
  const root = path.resolve(options.root);
  await mkdir(root, { recursive: true, mode: 0o700 });
  // A temp file left by a crash mid-write is no object; clear them.
  await rm(path.join(root, ".uploads"), { recursive: true, force: true });

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    // The raw path, not `new URL(…)`, which would resolve `..` segments before they could be refused.
    const [rawPath = "/", rawQuery = ""] = (request.url ?? "/").split("?", 2);
    const url = { searchParams: new URLSearchParams(rawQuery) };
    const [bucket = "", ...rest] = rawPath.slice(1).split("/");
    if (!BUCKET.test(bucket) || bucket.includes(".."))
      throw new S3Error(400, "InvalidBucketName", "bad bucket");
    const bucketDir = path.join(root, bucket);
    let key: string;
    try {
      key = rest.map((part) => decodeURIComponent(part)).join("/");
    } catch {
      throw new S3Error(400, "InvalidURI", "bad key encoding");
    }
    const method = request.method ?? "GET";
    const exists = await stat(bucketDir).then(
      (s) => s.isDirectory(),
      () => false,
    );

    if (!key) {
      if (method === "PUT") {
        if (exists) throw new S3Error(409, "BucketAlreadyOwnedByYou", "bucket exists");
        await mkdir(bucketDir, { recursive: true });
        response.writeHead(200).end();
        return;
      }
      if (!exists) throw new S3Error(404, "NoSuchBucket", "no such bucket");
      if (method === "HEAD") {
        response.writeHead(200).end();
        return;
      }
      if (url.searchParams.has("object-lock")) {
        if (!options.objectLockBuckets?.has(bucket))
          throw new S3Error(404, "ObjectLockConfigurationNotFoundError", "no Object Lock configuration");
        sendXml(
          response,
          200,
          "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>",
        );
        return;
      }
      if (method === "GET" && url.searchParams.get("list-type") === "2") {
        const prefix = url.searchParams.get("prefix") ?? "";
        const after = url.searchParams.get("continuation-token") ?? url.searchParams.get("start-after") ?? "";
        const keys: Array<{ key: string; file: string }> = [];
        for await (const entry of walk(bucketDir, ""))
          if (entry.key.startsWith(prefix) && entry.key > after) keys.push(entry);
        keys.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        const page = keys.slice(0, LIST_MAX_KEYS);
        const truncated = keys.length > page.length;
        const contents = await Promise.all(
          page.map(async ({ key: name, file }) => {
            const info = await stat(file);
            return `<Contents><Key>${xmlEscape(name)}</Key><LastModified>${info.mtime.toISOString()}</LastModified><Size>${info.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
          }),
        );
        sendXml(
          response,
          200,
          `<ListBucketResult><Name>${bucket}</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${LIST_MAX_KEYS}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${
            truncated ? `<NextContinuationToken>${xmlEscape(page.at(-1)!.key)}</NextContinuationToken>` : ""
          }${contents.join("")}</ListBucketResult>`,
        );
        return;
      }
      throw new S3Error(501, "NotImplemented", "not supported by this store");
    }

    const file = keyPath(bucketDir, key);
    if (method === "PUT") {
      if (!exists) throw new S3Error(404, "NoSuchBucket", "no such bucket");
      if (request.headers["content-encoding"]?.includes("aws-chunked"))
        throw new S3Error(501, "NotImplemented", "aws-chunked uploads are not supported by this store");
      const body = await readBody(request);
      const md5 = request.headers["content-md5"];
      if (md5 && createHash("md5").update(body).digest("base64") !== md5)
        throw new S3Error(400, "BadDigest", "Content-MD5 does not match the body");
      // A key that is another key's folder (or runs through a key) cannot be a file here; S3 would take it.
      await writeDurably(root, file, body).catch((error: NodeJS.ErrnoException) => {
        if (error.code === "ENOTDIR" || error.code === "EISDIR" || error.code === "EEXIST")
          throw new S3Error(409, "KeyConflict", "key collides with another key's folder in this store");
        throw error;
      });
      options.onPut?.({ bucket, key, headers: request.headers, bytes: body.length });
      response.writeHead(200, { etag: `"${createHash("md5").update(body).digest("hex")}"` }).end();
      return;
    }
    if (method === "GET" || method === "HEAD") {
      const info = await stat(file).catch(() => null);
      if (!info?.isFile()) throw new S3Error(404, "NoSuchKey", "no such key");
      response.writeHead(200, {
        "content-length": info.size,
        "content-type": "application/octet-stream",
        "last-modified": info.mtime.toUTCString(),
      });
      if (method === "HEAD") response.end();
      else createReadStream(file).pipe(response);
      return;
    }
    throw new S3Error(501, "NotImplemented", "not supported by this store");
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      const s3 = error instanceof S3Error ? error : new S3Error(500, "InternalError", "store failed");
      if (!response.headersSent)
        sendXml(
          response,
          s3.status,
          `<Error><Code>${s3.code}</Code><Message>${xmlEscape(s3.message)}</Message></Error>`,
        );
      else response.destroy();
      request.resume();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    server,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
