// The tar (POSIX ustar) subset bundles use: a writer for 512-byte headers and padding, and a
// streaming reader yielding each regular file's bytes as they arrive, so an archive of any size is
// read in constant memory. No compression; any tar tool extracts what the writer produces.
import { utf8Decode, utf8Encode } from "./encoding.ts";

export const TAR_BLOCK = 512;

export class TarError extends Error {
  override readonly name = "TarError";
}

export interface TarEntryOptions {
  /** Modification time, seconds since the epoch (default 0, so the bytes depend only on content). */
  mtime?: number;
  /** Permission bits (default 0o644). */
  mode?: number;
}

function writeOctal(header: Uint8Array, offset: number, length: number, value: number): void {
  const text = value.toString(8).padStart(length - 1, "0");
  if (text.length > length - 1) throw new TarError(`value ${value} does not fit a ${length}-byte tar field`);
  header.set(utf8Encode(text), offset); // the field's last byte stays NUL
}

/** The 512-byte ustar header of a regular file of `size` bytes named `name` (≤ 100 bytes of ASCII). */
export function tarHeader(name: string, size: number, options: TarEntryOptions = {}): Uint8Array {
  const nameBytes = utf8Encode(name);
  if (nameBytes.length === 0 || nameBytes.length > 100 || !/^[\x21-\x7e]+$/.test(name)) {
    throw new TarError(`tar entry name ${JSON.stringify(name)} is not 1-100 printable ASCII characters`);
  }
  if (!Number.isSafeInteger(size) || size < 0) throw new TarError(`invalid tar entry size ${size}`);
  const header = new Uint8Array(TAR_BLOCK);
  header.set(nameBytes, 0);
  writeOctal(header, 100, 8, options.mode ?? 0o644);
  writeOctal(header, 108, 8, 0); // uid
  writeOctal(header, 116, 8, 0); // gid
  writeOctal(header, 124, 12, size); // up to 8 GiB − 1
  writeOctal(header, 136, 12, options.mtime ?? 0);
  header[156] = 0x30; // typeflag '0': regular file
  header.set(utf8Encode("ustar\u000000"), 257); // magic "ustar\0", version "00"
  header.fill(0x20, 148, 156); // checksum computed with its own field as spaces
  let sum = 0;
  for (const byte of header) sum += byte;
  writeOctal(header, 148, 7, sum);
  header[155] = 0x20;
  return header;
}

/** Zero bytes that pad an entry of `size` bytes to a whole number of blocks. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array((TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK);
}

/** The end-of-archive marker: two zero blocks. */
export function tarEnd(): Uint8Array {
  return new Uint8Array(2 * TAR_BLOCK);
}

/** A complete small entry: header, data, padding. */
export function tarEntry(name: string, data: Uint8Array | string, options?: TarEntryOptions): Uint8Array {
  const bytes = typeof data === "string" ? utf8Encode(data) : data;
  const header = tarHeader(name, bytes.length, options);
  const out = new Uint8Array(header.length + bytes.length + tarPadding(bytes.length).length);
  out.set(header);
  out.set(bytes, header.length);
  return out;
}

/**
 * A streamed entry whose size is known in advance (tar puts the size before the data): yields the
 * header, the chunks, then the padding; throws if the chunks don't add up to `size`.
 */
export async function* tarStreamEntry(
  name: string,
  size: number,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options?: TarEntryOptions,
): AsyncGenerator<Uint8Array> {
  yield tarHeader(name, size, options);
  let written = 0;
  for await (const chunk of chunks) {
    written += chunk.length;
    if (written > size) throw new TarError(`tar entry ${name} is longer than its declared ${size} bytes`);
    yield chunk;
  }
  if (written !== size) throw new TarError(`tar entry ${name} has ${written} bytes, ${size} declared`);
  const padding = tarPadding(size);
  if (padding.length > 0) yield padding;
}

/** Bytes in chunks: a Node stream, a web ReadableStream, any (async) iterable of chunks, or one array. */
export type ByteSource =
  | AsyncIterable<Uint8Array>
  | Iterable<Uint8Array>
  | ReadableStream<Uint8Array>
  | Uint8Array;

/** Reads exact byte counts from a chunked source, holding at most one source chunk. */
class ByteReader {
  readonly #iterator: AsyncIterator<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #offset = 0;
  bytesRead = 0;

  constructor(source: ByteSource) {
    this.#iterator = toAsyncIterable(source)[Symbol.asyncIterator]();
  }

  /** Up to `max` bytes (at least 1), or undefined at the end of the source. */
  async next(max: number): Promise<Uint8Array | undefined> {
    while (this.#offset >= this.#chunk.length) {
      const result = await this.#iterator.next();
      if (result.done) return undefined;
      this.#chunk = result.value;
      this.#offset = 0;
    }
    const take = Math.min(max, this.#chunk.length - this.#offset);
    const bytes = this.#chunk.subarray(this.#offset, this.#offset + take);
    this.#offset += take;
    this.bytesRead += take;
    return bytes;
  }

  /** Exactly `length` bytes (copied), or undefined if the source ends first. */
  async exactly(length: number): Promise<Uint8Array | undefined> {
    const out = new Uint8Array(length);
    let at = 0;
    while (at < length) {
      const bytes = await this.next(length - at);
      if (!bytes) return undefined;
      out.set(bytes, at);
      at += bytes.length;
    }
    return out;
  }

  async skip(length: number): Promise<boolean> {
    let left = length;
    while (left > 0) {
      const bytes = await this.next(left);
      if (!bytes) return false;
      left -= bytes.length;
    }
    return true;
  }

  async close(): Promise<void> {
    await this.#iterator.return?.();
  }
}

async function* fromIterable(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

function toAsyncIterable(source: ByteSource): AsyncIterable<Uint8Array> {
  if (ArrayBuffer.isView(source)) return fromIterable([source as Uint8Array]); // also from another realm
  if (Symbol.asyncIterator in source) return source as AsyncIterable<Uint8Array>;
  if (Symbol.iterator in source) return fromIterable(source as Iterable<Uint8Array>);
  const stream = source as ReadableStream<Uint8Array>;
  return {
    async *[Symbol.asyncIterator]() {
      const reader = stream.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          yield value;
        }
      } finally {
        reader.releaseLock();
      }
    },
  };
}

export interface TarEntry {
  name: string;
  size: number;
  /** The entry's bytes, in chunks; read it (or not) before asking for the next entry. */
  body: AsyncIterable<Uint8Array>;
}

function readOctal(header: Uint8Array, offset: number, length: number): number {
  const field = header.subarray(offset, offset + length);
  if ((field[0]! & 0x80) !== 0) {
    // GNU base-256 encoding for sizes of 8 GiB and more.
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    if (!Number.isSafeInteger(value)) throw new TarError("tar size too large");
    return value;
  }
  const text = String.fromCharCode(...field)
    .replace(/[\0 ]+$/, "")
    .replace(/^ +/, "");
  if (!/^[0-7]*$/.test(text)) throw new TarError("malformed tar header number");
  return text === "" ? 0 : Number.parseInt(text, 8);
}

function headerString(header: Uint8Array, offset: number, length: number): string {
  const field = header.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return utf8Decode(end < 0 ? field : field.subarray(0, end));
}

/** pax extended header records `<length> <key>=<value>\n` (only path and size are used). */
function parsePax(data: Uint8Array): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = space < 0 ? Number.NaN : Number(String.fromCharCode(...data.subarray(at, space)));
    if (!Number.isSafeInteger(length) || length <= space - at + 1 || at + length > data.length) {
      throw new TarError("malformed pax header");
    }
    const record = utf8Decode(data.subarray(space + 1, at + length - 1));
    const equals = record.indexOf("=");
    if (equals < 0 || data[at + length - 1] !== 0x0a) throw new TarError("malformed pax record");
    records.set(record.slice(0, equals), record.slice(equals + 1));
    at += length;
  }
  return records;
}

const MAX_PAX_HEADER = 1 << 20;

/**
 * The regular files of a tar stream, in order. Directories and global pax headers are skipped; pax
 * `path` and `size` records are honoured; links, devices and other types are rejected. Verifies
 * each header's checksum and that the archive ends with its end marker.
 */
export async function* readTar(source: ByteSource): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(source);
  try {
    let pax = new Map<string, string>();
    for (;;) {
      const header = await reader.exactly(TAR_BLOCK);
      if (!header) throw new TarError("the tar archive ends without its end marker");
      if (header.every((byte) => byte === 0)) return;
      let sum = 0;
      for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
      if (readOctal(header, 148, 8) !== sum) throw new TarError("tar header checksum mismatch");
      const type = String.fromCharCode(header[156]!);
      let size = readOctal(header, 124, 12);
      const prefix = headerString(header, 345, 155);
      let name = prefix ? `${prefix}/${headerString(header, 0, 100)}` : headerString(header, 0, 100);
      if (type === "x" || type === "g") {
        if (size > MAX_PAX_HEADER) throw new TarError("pax header too large");
        const data = await reader.exactly(size + tarPadding(size).length);
        if (!data) throw new TarError("the tar archive is truncated");
        if (type === "x") pax = parsePax(data.subarray(0, size));
        continue;
      }
      name = pax.get("path") ?? name;
      if (pax.has("size")) size = Number(pax.get("size"));
      pax = new Map();
      if (!Number.isSafeInteger(size) || size < 0) throw new TarError("malformed tar entry size");
      if (type === "5") {
        if (!(await reader.skip(size + tarPadding(size).length)))
          throw new TarError("the tar archive is truncated");
        continue;
      }
      if (type !== "0" && type !== "\0" && type !== "7") {
        throw new TarError(`tar entry ${name} is not a regular file (type ${JSON.stringify(type)})`);
      }
      let left = size;
      const body = (async function* () {
        while (left > 0) {
          const bytes = await reader.next(left);
          if (!bytes) throw new TarError(`tar entry ${name} is truncated`);
          left -= bytes.length;
          yield bytes;
        }
      })();
      yield { name, size, body };
      // Whatever the consumer left unread is skipped.
      if (left > 0 && !(await reader.skip(left))) throw new TarError(`tar entry ${name} is truncated`);
      left = 0;
      if (!(await reader.skip(tarPadding(size).length))) throw new TarError("the tar archive is truncated");
    }
  } finally {
    await reader.close();
  }
}

/** The same bytes as `source`, reporting the running total after each chunk (for progress). */
export function countBytes(source: ByteSource, onBytes: (total: number) => void): AsyncIterable<Uint8Array> {
  const iterable = toAsyncIterable(source);
  return {
    async *[Symbol.asyncIterator]() {
      let total = 0;
      for await (const chunk of iterable) {
        total += chunk.length;
        onBytes(total);
        yield chunk;
      }
    },
  };
}
