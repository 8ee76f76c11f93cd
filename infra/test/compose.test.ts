// Static check of the docker compose run mode (no Docker engine needed): docker-compose.yml is
// valid against the Compose Specification schema, and its wiring matches what the services read
// (config.ts), the Dockerfile, the Postgres init SQL and the LocalStack init hook.
import { accessSync, constants, existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { SERVICE_NODE_FLAGS } from "@vigil/devstack/build-services";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const readRepoFile = (path: string): string => readFileSync(join(repoRoot, path), "utf8");

const APP_SERVICES = ["api", "worker", "streamer"] as const;
const SERVICE_PORTS = { api: 8080, streamer: 8081, worker: 8082 } as const;
// The only credentials compose may contain: obvious local-development defaults.
const DEV_SECRETS = new Set(["", "test", "postgres", "vigil_service_dev", "vigil-dev-admin"]);

type Env = Record<string, string>;
interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  command?: string[];
  environment?: Record<string, string | number | boolean | null>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] | string };
  ports?: string[];
  volumes?: string[];
  restart?: string;
}
interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

// The Compose Specification JSON schema as bundled by dclint (compose-spec/compose-spec's
// schema/compose-spec.json); dclint does not export the path, so resolve it from its package.json.
function loadComposeSchema(): Record<string, unknown> {
  const require = createRequire(import.meta.url);
  const dclintDir = dirname(require.resolve("dclint/package.json"));
  const schema = JSON.parse(readFileSync(join(dclintDir, "schemas", "compose.schema.json"), "utf8"));
  // Its "$schema" is the https spelling of draft-07, unknown to ajv's meta-schema table; the
  // schema body is plain draft-07, which is ajv's default dialect.
  delete schema.$schema;
  return schema;
}

function compileComposeValidator(): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, strict: false });
  // ajv-formats is CommonJS; under ESM interop its function may sit on .default.
  const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
    addFormatsModule) as unknown as (ajv: Ajv) => Ajv;
  addFormats(ajv);
  return ajv.compile(loadComposeSchema());
}

// Compose interpolation as `docker compose` does it with nothing set in the shell:
// ${VAR:-default} / ${VAR-default} give the default, ${VAR} gives "", $$ is a literal $.
function interpolate(value: string): string {
  return value
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (_m, _name, fallback) => fallback ?? "")
    .replace(/\$\$/g, "$");
}

function effectiveEnv(service: ComposeService): Env {
  const env: Env = {};
  for (const [key, value] of Object.entries(service.environment ?? {})) {
    env[key] = interpolate(value === null ? "" : String(value));
  }
  return env;
}

function healthcheckCommand(service: ComposeService): string {
  const test = service.healthcheck?.test;
  return Array.isArray(test) ? test.join(" ") : (test ?? "");
}

const composeSource = readRepoFile("docker-compose.yml");
const compose = parse(composeSource, { merge: true }) as Compose;
const validateCompose = compileComposeValidator();
const service = (name: string): ComposeService => {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
};

describe("docker-compose.yml against the Compose Specification schema", () => {
  it("is valid", () => {
    const valid = validateCompose(compose);
    expect(validateCompose.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it("rejects an unknown service key, so the validator is live", () => {
    const broken = structuredClone(compose) as unknown as {
      services: Record<string, Record<string, unknown>>;
    };
    broken.services.api!.portz = ["8080:8080"];
    expect(validateCompose(broken)).toBe(false);
    expect(validateCompose.errors?.some((e) => e.params && "additionalProperty" in e.params)).toBe(true);
  });

  it("rejects a misspelt depends_on condition", () => {
    const broken = structuredClone(compose);
    const worker = broken.services.worker ?? {};
    worker.depends_on = { ...worker.depends_on, migrate: { condition: "completed_successfully" } };
    expect(validateCompose(broken)).toBe(false);
  });

  it("rejects a top-level key that is not an x- extension", () => {
    expect(validateCompose({ ...compose, vigil_env: { HOST: "0.0.0.0" } })).toBe(false);
  });
});

describe("app services (api, worker, streamer)", () => {
  it.each(APP_SERVICES)("%s is built from the root Dockerfile and runs its own workspace package", (name) => {
    const svc = service(name);
    expect(svc.build?.context).toBe(".");
    expect(svc.build?.dockerfile ?? "Dockerfile").toBe("Dockerfile");
    expect(svc.build?.args?.SERVICE).toBe(name);
    expect(svc.command).toEqual(["pnpm", "--filter", `@vigil/${name}`, "start"]);
  });

  it.each(APP_SERVICES)("%s connects as vigil_service (not the owner) to timescaledb", (name) => {
    const env = effectiveEnv(service(name));
    const url = new URL(env.DATABASE_URL ?? "");
    expect(url.protocol).toMatch(/^postgres(ql)?:$/);
    expect(url.hostname).toBe("timescaledb");
    expect(url.port).toBe("5432");
    expect(url.username).toBe("vigil_service");
    expect(url.pathname).toBe("/vigil");
    expect(env.DATABASE_ADMIN_URL).toBeUndefined();
  });

  it.each(APP_SERVICES)("%s talks to LocalStack SQS and OpenSearch and binds 0.0.0.0", (name) => {
    const env = effectiveEnv(service(name));
    expect(new URL(env.SQS_ENDPOINT ?? "").host).toBe("localstack:4566");
    expect(new URL(env.SQS_QUEUE_URL ?? "").host).toBe("localstack:4566");
    expect(env.SQS_QUEUE_URL).toMatch(/\/vigil-events$/);
    expect(env.SQS_DLQ_URL).toMatch(/^http:\/\/localstack:4566\/.*\/vigil-events-dlq$/);
    expect(env.AWS_REGION).toBe(effectiveEnv(service("localstack")).AWS_DEFAULT_REGION);
    expect(env.AWS_ACCESS_KEY_ID).toBe("test");
    expect(env.AWS_SECRET_ACCESS_KEY).toBe("test");
    expect(new URL(env.OPENSEARCH_URL ?? "").host).toBe("opensearch:9200");
    expect(env.HOST).toBe("0.0.0.0");
    expect(env.API_PORT).toBe("8080");
    expect(env.STREAMER_PORT).toBe("8081");
    expect(env.WORKER_METRICS_PORT).toBe("8082");
  });

  it.each(APP_SERVICES)("%s starts only after migrations completed and the database is healthy", (name) => {
    const dependsOn = service(name).depends_on ?? {};
    expect(dependsOn.migrate?.condition).toBe("service_completed_successfully");
    expect(dependsOn.timescaledb?.condition).toBe("service_healthy");
  });

  it.each(["api", "worker"] as const)("%s waits for the queues (localstack healthy)", (name) => {
    expect(service(name).depends_on?.localstack?.condition).toBe("service_healthy");
  });

  it.each(APP_SERVICES)("%s has a node-based /healthz healthcheck on its own port", (name) => {
    const svc = service(name);
    expect(svc.healthcheck?.test).toEqual([
      "CMD",
      "node",
      "-e",
      `fetch('http://127.0.0.1:${SERVICE_PORTS[name]}/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))`,
    ]);
  });

  it("publishes the api and streamer ports, not the worker's", () => {
    expect(service("api").ports).toEqual(["8080:8080"]);
    expect(service("streamer").ports).toEqual(["8081:8081"]);
    expect(service("worker").ports).toBeUndefined();
  });
});

describe("migrate", () => {
  const migrate = service("migrate");

  it("runs the migration command once, as the owner, after the database is healthy", () => {
    expect(migrate.command).toEqual(["pnpm", "vigil", "migrate"]);
    expect(migrate.restart).toBe("no");
    expect(migrate.depends_on?.timescaledb?.condition).toBe("service_healthy");
    const admin = new URL(effectiveEnv(migrate).DATABASE_ADMIN_URL ?? "");
    expect(admin.hostname).toBe("timescaledb");
    expect(admin.username).toBe(effectiveEnv(service("timescaledb")).POSTGRES_USER);
    expect(admin.pathname).toBe("/vigil");
  });

  it("the migrate command is the root package.json script", () => {
    const rootPackage = JSON.parse(readRepoFile("package.json")) as { scripts: Record<string, string> };
    expect(rootPackage.scripts.vigil).toBe("node --import tsx packages/cli/src/main.ts");
  });
});

describe("timescaledb", () => {
  const db = service("timescaledb");
  const initSql = readRepoFile("infra/postgres/init.sql");

  it("initialises database vigil and is health-checked with pg_isready over TCP", () => {
    expect(db.image).toBe("timescale/timescaledb:latest-pg17");
    expect(effectiveEnv(db).POSTGRES_DB).toBe("vigil");
    expect(healthcheckCommand(db)).toMatch(/pg_isready .*-h 127\.0\.0\.1/);
    expect(db.volumes).toContain("timescaledb-data:/var/lib/postgresql/data");
    expect(compose.volumes).toHaveProperty("timescaledb-data");
  });

  it("mounts the init SQL, which creates vigil_service with the password DATABASE_URL uses", () => {
    expect(db.volumes).toContainEqual(
      expect.stringMatching(/^\.\/infra\/postgres\/init\.sql:\/docker-entrypoint-initdb\.d\/[^:]+\.sql:ro$/),
    );
    const servicePassword = new URL(effectiveEnv(service("api")).DATABASE_URL ?? "").password;
    expect(initSql).toMatch(new RegExp(`CREATE ROLE vigil_service LOGIN PASSWORD '${servicePassword}'`));
    expect(initSql).toMatch(/NOBYPASSRLS/);
    expect(initSql).toMatch(/CREATE ROLE vigil_app NOLOGIN/);
    expect(initSql).toMatch(/GRANT vigil_app TO vigil_service/);
  });
});

describe("localstack", () => {
  const localstack = service("localstack");
  const hookPath = "infra/localstack/init-sqs.sh";
  const hook = readRepoFile(hookPath);

  it("runs SQS with the init hook mounted into ready.d", () => {
    expect(localstack.image).toBe("localstack/localstack:4");
    expect(effectiveEnv(localstack).SERVICES).toMatch(/\bsqs\b/);
    expect(localstack.volumes).toContain(`./${hookPath}:/etc/localstack/init/ready.d/init-sqs.sh:ro`);
    expect(healthcheckCommand(localstack)).toContain("/_localstack/init/ready");
  });

  it("the hook is an executable bash script", () => {
    expect(hook.startsWith("#!/usr/bin/env bash\n")).toBe(true);
    expect(hook).toContain("set -euo pipefail");
    expect(() => accessSync(join(repoRoot, hookPath), constants.X_OK)).not.toThrow();
  });

  it("creates the queue and the DLQ with a redrive policy", () => {
    expect(hook).toMatch(/^QUEUE_NAME=vigil-events$/m);
    expect(hook).toMatch(/^DLQ_NAME=vigil-events-dlq$/m);
    expect(hook).toMatch(/^MAX_RECEIVE_COUNT=5$/m);
    expect(hook).toMatch(
      /create-queue --queue-name "\$DLQ_NAME"[\s\\]+--attributes MessageRetentionPeriod=1209600/,
    );
    expect(hook).toMatch(/create-queue --queue-name "\$QUEUE_NAME" --attributes/);
  });

  it("the attributes document it writes is valid JSON carrying the redrive policy", () => {
    // Render the unquoted heredoc as bash would: expand the two variables, keep \" as is.
    const heredoc = /<<JSON\n([\s\S]*?)\nJSON\n/.exec(hook)?.[1];
    expect(heredoc).toBeDefined();
    const dlqArn = "arn:aws:sqs:us-east-1:000000000000:vigil-events-dlq";
    const rendered = heredoc!
      .replaceAll("$" + "{dlq_arn}", dlqArn)
      .replaceAll("$" + "{MAX_RECEIVE_COUNT}", "5");
    expect(rendered).not.toContain("$");
    const attributes = JSON.parse(rendered) as Record<string, string>;
    expect(attributes.VisibilityTimeout).toBe("60");
    expect(JSON.parse(attributes.RedrivePolicy ?? "")).toEqual({
      deadLetterTargetArn: dlqArn,
      maxReceiveCount: "5",
    });
  });
});

describe("opensearch", () => {
  it("is a single node with the security plugin off and a health check", () => {
    const opensearch = service("opensearch");
    const env = effectiveEnv(opensearch);
    expect(opensearch.image).toBe("opensearchproject/opensearch:2");
    expect(env["discovery.type"]).toBe("single-node");
    expect(env.DISABLE_SECURITY_PLUGIN).toBe("true");
    expect(healthcheckCommand(opensearch)).toContain("_cluster/health");
  });
});

describe("secrets and files", () => {
  it("contains no credential other than the local-development defaults", () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const [key, value] of Object.entries(effectiveEnv(svc))) {
        if (/PASSWORD|SECRET|TOKEN|ACCESS_KEY|PRIVATE|API_KEY/i.test(key)) {
          expect(DEV_SECRETS.has(value), `${name}.${key}`).toBe(true);
        }
        if (/^[a-z]+:\/\//.test(value)) {
          const password = decodeURIComponent(new URL(value).password);
          expect(DEV_SECRETS.has(password), `${name}.${key} URL password`).toBe(true);
        }
      }
    }
    expect(composeSource).not.toMatch(/-----BEGIN|AKIA[0-9A-Z]{16}|sk_live_/);
  });

  it("every bind-mounted host path exists", () => {
    for (const svc of Object.values(compose.services)) {
      for (const volume of svc.volumes ?? []) {
        if (volume.startsWith("./"))
          expect(existsSync(join(repoRoot, volume.split(":")[0]!)), volume).toBe(true);
      }
    }
  });
});

describe("Dockerfile", () => {
  const dockerfile = readRepoFile("Dockerfile");

  it("copies every workspace manifest before installing, so the lockfile install is complete", () => {
    const installAt = dockerfile.indexOf("pnpm install --frozen-lockfile --prod=false");
    expect(installAt).toBeGreaterThan(0);
    const beforeInstall = dockerfile.slice(0, installAt);
    expect(beforeInstall).toContain("COPY package.json pnpm-workspace.yaml pnpm-lock.yaml ./");
    for (const group of ["packages", "services"]) {
      for (const entry of readdirSync(join(repoRoot, group), { withFileTypes: true })) {
        if (!entry.isDirectory() || !existsSync(join(repoRoot, group, entry.name, "package.json"))) continue;
        expect(beforeInstall).toContain(`COPY ${group}/${entry.name}/package.json ${group}/${entry.name}/`);
      }
    }
  });

  it("uses node 20 slim with pnpm 10 and runs as the non-root node user", () => {
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim$/m);
    expect(dockerfile).toContain("npm i -g pnpm@10");
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^ARG SERVICE=api$/m);
  });

  it("bundles the services after copying the sources; each service's start script runs its bundle", () => {
    expect(dockerfile.indexOf("RUN pnpm build")).toBeGreaterThan(dockerfile.indexOf("COPY . ."));
    const rootPackage = JSON.parse(readRepoFile("package.json")) as { scripts: Record<string, string> };
    expect(rootPackage.scripts.build).toBe("tsx packages/devstack/src/build-services.ts");
    for (const name of APP_SERVICES) {
      const manifest = JSON.parse(readRepoFile(`services/${name}/package.json`)) as {
        scripts: Record<string, string>;
      };
      expect(manifest.scripts.start).toBe(["node", ...SERVICE_NODE_FLAGS[name], "dist/main.mjs"].join(" "));
    }
  });

  it(".dockerignore keeps local state out of the build context", () => {
    const ignored = readRepoFile(".dockerignore").split("\n");
    for (const entry of ["node_modules", ".vigil", ".git", "bench/results"]) expect(ignored).toContain(entry);
  });
});

describe("AWS IAM policies", () => {
  type Policy = {
    Version: string;
    Statement: { Effect: string; Action: string[]; Resource: string | string[] }[];
  };
  const load = (file: string) => JSON.parse(readRepoFile(`infra/aws/${file}`)) as Policy;
  const allowed = (policy: Policy, queue: string): string[] =>
    policy.Statement.filter(
      (s) => s.Effect === "Allow" && [s.Resource].flat().some((r) => r.endsWith(`:${queue}`)),
    )
      .flatMap((s) => s.Action)
      .sort();

  it("api may only enqueue to vigil-events", () => {
    const policy = load("iam-api-policy.json");
    expect(policy.Version).toBe("2012-10-17");
    expect(allowed(policy, "vigil-events")).toEqual(["sqs:GetQueueAttributes", "sqs:SendMessage"]);
    expect(allowed(policy, "vigil-events-dlq")).toEqual([]);
  });

  it("worker may consume the queue and move messages to and from the DLQ", () => {
    const policy = load("iam-worker-policy.json");
    const consume = [
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:ReceiveMessage",
    ];
    expect(new Set(allowed(policy, "vigil-events"))).toEqual(new Set([...consume, "sqs:SendMessage"]));
    expect(new Set(allowed(policy, "vigil-events-dlq"))).toEqual(new Set([...consume, "sqs:SendMessage"]));
  });
});
