// The Ed25519 keys Vigil signs access tokens with. They live in the database so every api replica
// signs with the same key and a restart keeps issued tokens valid. The newest unretired key signs;
// `rotateSigningKey` retires it and adds a new one, and a retired key keeps verifying (and stays in
// the JWKS) until every token it can have signed has expired.

import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { openSealedText, sealText } from "../crypto/sealed-text.ts";
import type { Queryable, Sql } from "../db/database.ts";

export const SIGNING_ALGORITHM = "EdDSA";

/** A replica re-reads the key table this often, so a rotation reaches every replica within it. */
const KEY_REFRESH_MS = 30_000;
/** An unknown `kid` triggers a re-read at most this often (a rotation on another replica). */
const UNKNOWN_KID_REFRESH_MS = 1_000;

export interface SigningKey {
  kid: string;
  publicJwk: JWK;
  /** Absent for keys that only verify. */
  privateKey?: CryptoKey;
  publicKey: CryptoKey;
  createdAt: Date;
  retiredAt: Date | null;
}

interface SigningKeyRow {
  kid: string;
  public_jwk: JWK;
  private_jwk: string;
  created_at: Date;
  retired_at: Date | null;
}

/**
 * Private keys are stored AES-256-GCM encrypted when VIGIL_SIGNING_KEY_SECRET is set, plain
 * otherwise (the database is then the secret); the prefix says which, so the secret can be added later.
 */
const SEALING_PURPOSE = "vigil-signing-keys-v1";

function sealPrivateJwk(jwk: JWK, secret: string | undefined): string {
  return sealText(JSON.stringify(jwk), secret, SEALING_PURPOSE);
}

function openPrivateJwk(stored: string, secret: string | undefined): JWK | null {
  // null: a wrong secret, so this replica can verify with the key but not sign with it
  const plain = openSealedText(stored, secret, SEALING_PURPOSE);
  return plain === null ? null : (JSON.parse(plain) as JWK);
}

async function insertSigningKey(sql: Queryable, secret: string | undefined): Promise<string> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, {
    crv: "Ed25519",
    extractable: true,
  });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = await exportJWK(privateKey);
  await sql`
    insert into signing_keys (kid, algorithm, public_jwk, private_jwk)
    values (${kid}, ${SIGNING_ALGORITHM}, ${sql.json({ ...publicJwk, kid, alg: SIGNING_ALGORITHM, use: "sig" } as never)}, ${sealPrivateJwk(privateJwk, secret)})`;
  return kid;
}

/** Creates the first signing key unless one is active; safe when several replicas start at once. */
export async function ensureSigningKey(sql: Sql, secret?: string): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('vigil.signing_keys'))`;
    const active = await tx`select 1 from signing_keys where retired_at is null limit 1`;
    if (active.length === 0) await insertSigningKey(tx, secret);
  });
}

/** Retires the signing key and adds a new one; returns the new key id. */
export async function rotateSigningKey(sql: Sql, secret?: string): Promise<string> {
  return (await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('vigil.signing_keys'))`;
    await tx`update signing_keys set retired_at = now() where retired_at is null`;
    return insertSigningKey(tx, secret);
  })) as string;
}

/**
 * An in-process view of the key table: the key to sign with and the keys that still verify. A
 * retired key verifies for the access-token lifetime after retirement plus one refresh interval
 * (a replica may sign with it until it next re-reads the table).
 */
export class SigningKeyRing {
  private keys: SigningKey[] = [];
  private loadedAt = 0;
  private loading: Promise<void> | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly options: { accessTokenTtlSeconds: number; secret?: string },
  ) {}

  private get verifyWindowMs(): number {
    return this.options.accessTokenTtlSeconds * 1000 + KEY_REFRESH_MS + 60_000;
  }

  private reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const rows = await this.sql<SigningKeyRow[]>`
          select kid, public_jwk, private_jwk, created_at, retired_at from signing_keys
          where retired_at is null or retired_at > now() - make_interval(secs => ${this.verifyWindowMs / 1000})
          order by created_at desc, kid`;
        this.keys = await Promise.all(
          rows.map(async (row) => {
            const privateJwk = row.retired_at ? null : openPrivateJwk(row.private_jwk, this.options.secret);
            return {
              kid: row.kid,
              publicJwk: row.public_jwk,
              publicKey: (await importJWK(row.public_jwk, SIGNING_ALGORITHM)) as CryptoKey,
              privateKey: privateJwk
                ? ((await importJWK(privateJwk, SIGNING_ALGORITHM)) as CryptoKey)
                : undefined,
              createdAt: row.created_at,
              retiredAt: row.retired_at,
            };
          }),
        );
        this.loadedAt = Date.now();
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  private async fresh(): Promise<SigningKey[]> {
    if (Date.now() - this.loadedAt > KEY_REFRESH_MS) await this.reload();
    return this.keys;
  }

  /** The key new tokens are signed with (ensureSigningKey must have run). */
  async signer(): Promise<SigningKey & { privateKey: CryptoKey }> {
    let key = (await this.fresh()).find((candidate) => !candidate.retiredAt && candidate.privateKey);
    if (!key) {
      await this.reload();
      key = this.keys.find((candidate) => !candidate.retiredAt && candidate.privateKey);
    }
    if (!key?.privateKey)
      throw new Error(
        "no usable signing key: run `pnpm vigil keys rotate` or check VIGIL_SIGNING_KEY_SECRET",
      );
    return key as SigningKey & { privateKey: CryptoKey };
  }

  /** The public key for `kid`, or null when it is unknown or no longer verifies. */
  async verificationKey(kid: string): Promise<CryptoKey | null> {
    let key = (await this.fresh()).find((candidate) => candidate.kid === kid);
    if (!key && Date.now() - this.loadedAt > UNKNOWN_KID_REFRESH_MS) {
      await this.reload();
      key = this.keys.find((candidate) => candidate.kid === kid);
    }
    return key?.publicKey ?? null;
  }

  /** The public half of every key that still verifies, for /.well-known/jwks.json. */
  async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: (await this.fresh()).map((key) => key.publicJwk) };
  }
}
