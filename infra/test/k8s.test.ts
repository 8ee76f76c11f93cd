// Static check of the Kubernetes run mode (no cluster here): infra/k8s's kustomize base and example
// overlay are rendered by a small kustomize subset (resources, namespace, labels, images, replicas,
// JSON 6902 patches — exactly the features the files use), every object is validated against the
// Kubernetes and KEDA JSON schemas shipped in the kubernetes-models packages, and the wiring is
// checked against what the services read (config.ts), their start scripts and their probes.
import { readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication";
import { SERVICE_NODE_FLAGS } from "@vigil/devstack/build-services";
import { configSchema } from "@vigil/shared/config/config";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Job } from "kubernetes-models/batch/v1/Job";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const k8sDir = join(repoRoot, "infra/k8s");

// Manifests are arbitrary JSON until validated.
type Manifest = Record<string, any>;
type Validator = new (data: Manifest) => { validate(): void };

/** The schema behind each apiVersion/kind the manifests may use; anything else is an error. */
const MODELS: Record<string, Validator> = {
  "v1/ConfigMap": ConfigMap as unknown as Validator,
  "v1/Namespace": Namespace as unknown as Validator,
  "v1/Service": Service as unknown as Validator,
  "v1/ServiceAccount": ServiceAccount as unknown as Validator,
  "apps/v1/Deployment": Deployment as unknown as Validator,
  "batch/v1/Job": Job as unknown as Validator,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget as unknown as Validator,
  "keda.sh/v1alpha1/ScaledObject": ScaledObject as unknown as Validator,
  "keda.sh/v1alpha1/TriggerAuthentication": TriggerAuthentication as unknown as Validator,
};

function validate(manifest: Manifest): void {
  const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  if (!Model) throw new Error(`no schema for ${manifest.apiVersion}/${manifest.kind}`);
  new Model(structuredClone(manifest)).validate();
}

function readYamlDocuments(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(file, "utf8")).map((doc) => {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]?.message}`);
    return doc.toJS() as Manifest;
  });
}

/** JSON Pointer (RFC 6901) replace/add, as kustomize applies JSON 6902 patches. */
function applyJsonPatch(target: Manifest, ops: Array<{ op: string; path: string; value: unknown }>): void {
  for (const { op, path, value } of ops) {
    if (op !== "replace" && op !== "add") throw new Error(`unsupported patch op ${op}`);
    const parts = path
      .split("/")
      .slice(1)
      .map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"));
    const last = parts.pop() as string;
    let node = target;
    for (const part of parts) {
      if (node[part] === undefined) throw new Error(`patch path ${path} does not exist`);
      node = node[part];
    }
    if (op === "replace" && node[last] === undefined) throw new Error(`patch path ${path} does not exist`);
    node[last] = value;
  }
}

const CLUSTER_SCOPED = new Set(["Namespace"]);

/** Renders a kustomization folder with the subset of kustomize the manifests use. */
function renderKustomization(dir: string): Manifest[] {
  const [kustomization] = readYamlDocuments(join(dir, "kustomization.yaml"));
  if (!kustomization) throw new Error(`${dir}: empty kustomization`);
  const known = new Set([
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "replicas",
    "patches",
  ]);
  for (const key of Object.keys(kustomization))
    if (!known.has(key)) throw new Error(`${dir}: kustomization field ${key} is not rendered by this test`);
  const objects: Manifest[] = [];
  for (const resource of kustomization.resources ?? []) {
    const path = join(dir, resource);
    objects.push(...(statSync(path).isDirectory() ? renderKustomization(path) : readYamlDocuments(path)));
  }
  for (const { pairs } of kustomization.labels ?? [])
    for (const object of objects) object.metadata.labels = { ...object.metadata.labels, ...pairs };
  if (kustomization.namespace)
    for (const object of objects)
      if (!CLUSTER_SCOPED.has(object.kind)) object.metadata.namespace = kustomization.namespace;
  for (const image of kustomization.images ?? [])
    for (const container of objects.flatMap(podContainers))
      if (container.image.split(":")[0] === image.name)
        container.image = `${image.newName ?? image.name}:${image.newTag ?? container.image.split(":")[1]}`;
  for (const { name, count } of kustomization.replicas ?? []) {
    const target = objects.find((object) => object.kind === "Deployment" && object.metadata.name === name);
    if (!target) throw new Error(`${dir}: replicas for unknown ${name}`);
    target.spec.replicas = count;
  }
  for (const { target, patch } of kustomization.patches ?? []) {
    const matches = objects.filter((o) => o.kind === target.kind && o.metadata.name === target.name);
    if (matches.length !== 1) throw new Error(`${dir}: patch target ${target.kind}/${target.name} not found`);
    applyJsonPatch(matches[0] as Manifest, readYamlDocuments0(patch));
  }
  return objects;
}

function readYamlDocuments0(text: string) {
  const [doc] = parseAllDocuments(text);
  return doc?.toJS() as Array<{ op: string; path: string; value: unknown }>;
}

function podSpec(object: Manifest): Manifest | undefined {
  return object.kind === "Deployment" || object.kind === "Job" ? object.spec.template.spec : undefined;
}
function podContainers(object: Manifest): Manifest[] {
  return podSpec(object)?.containers ?? [];
}
/** The pod's single container (each Vigil pod runs one). */
function theContainer(object: Manifest): Manifest {
  const [container, ...others] = podContainers(object);
  if (!container || others.length) throw new Error(`${object.metadata.name}: expected one container`);
  return container;
}

const base = renderKustomization(join(k8sDir, "base"));
const overlay = renderKustomization(join(k8sDir, "overlays/example"));
const find = (objects: Manifest[], kind: string, name: string): Manifest => {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
};

const SERVICES = [
  { name: "api", portVariable: "API_PORT" },
  { name: "worker", portVariable: "WORKER_METRICS_PORT" },
  { name: "streamer", portVariable: "STREAMER_PORT" },
] as const;
const CONFIG_VARIABLES = new Set(Object.keys(configSchema.shape));
const SECRET_VARIABLE = /URL$|PASSWORD|SECRET|_KEY$/;
const NON_SECRET_URLS = new Set(["SQS_QUEUE_URL", "SQS_DLQ_URL", "SQS_ENDPOINT", "OPENSEARCH_URL"]);

describe.each([
  ["base", base],
  ["example overlay", overlay],
])("infra/k8s %s", (_label, objects) => {
  it("renders every object the deployment needs", () => {
    const names = objects.map((object) => `${object.kind}/${object.metadata.name}`);
    for (const { name } of SERVICES) expect(names).toContain(`Deployment/vigil-${name}`);
    for (const name of ["api", "streamer"]) {
      expect(names).toContain(`Service/vigil-${name}`);
      expect(names).toContain(`PodDisruptionBudget/vigil-${name}`);
    }
    expect(names).toContain("Job/vigil-migrate");
    expect(names).toContain("ScaledObject/vigil-worker");
  });

  it.each(
    objects.map((object) => [`${object.kind}/${object.metadata.name}`, object]),
  )("%s is valid against its JSON schema", (_name, object) =>
    expect(() => validate(object as Manifest)).not.toThrow());

  it("reads only configuration variables the services know, and secrets only from Secrets", () => {
    const configMap = find(objects, "ConfigMap", "vigil-config");
    for (const key of Object.keys(configMap.data)) {
      expect(CONFIG_VARIABLES, `ConfigMap key ${key}`).toContain(key);
      if (!NON_SECRET_URLS.has(key)) expect(key, "a secret in a ConfigMap").not.toMatch(SECRET_VARIABLE);
    }
    for (const container of objects.flatMap(podContainers)) {
      for (const variable of container.env ?? []) {
        expect(CONFIG_VARIABLES, `env ${variable.name}`).toContain(variable.name);
        if (SECRET_VARIABLE.test(variable.name) && !NON_SECRET_URLS.has(variable.name)) {
          expect(variable.value, `${variable.name} must not be a literal`).toBeUndefined();
          expect(variable.valueFrom?.secretKeyRef?.name).toBe("vigil-secrets");
        }
      }
    }
  });

  it.each(SERVICES)("$name runs its bundle as its start script does, probed on its own port", ({
    name,
    portVariable,
  }) => {
    const deployment = find(objects, "Deployment", `vigil-${name}`);
    const container = theContainer(deployment);
    const startScript = JSON.parse(readFileSync(join(repoRoot, `services/${name}/package.json`), "utf8"))
      .scripts.start as string;
    expect(container.command).toEqual(["node", ...SERVICE_NODE_FLAGS[name], "dist/main.mjs"]);
    expect(startScript).toBe(["node", ...SERVICE_NODE_FLAGS[name], "dist/main.mjs"].join(" "));
    expect(container.workingDir).toBe(`/app/services/${name}`);
    const configMap = find(objects, "ConfigMap", "vigil-config");
    const port = Number(configMap.data[portVariable]);
    expect(container.ports).toEqual([{ name: "http", containerPort: port }]);
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.resources.requests.cpu).toBeDefined();
    expect(container.resources.requests.memory).toBeDefined();
    expect(container.resources.limits.memory).toBeDefined();
    expect(podSpec(deployment)?.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    // Every Deployment's pods are selected by its own selector, its PDB and (if any) its Service.
    const labels = deployment.spec.template.metadata.labels;
    const selects = (selector: Record<string, string>) =>
      Object.entries(selector).every(([key, value]) => labels[key] === value);
    expect(selects(deployment.spec.selector.matchLabels)).toBe(true);
    expect(selects(find(objects, "PodDisruptionBudget", `vigil-${name}`).spec.selector.matchLabels)).toBe(
      true,
    );
    const service = objects.find(
      (object) => object.kind === "Service" && object.metadata.name === `vigil-${name}`,
    );
    if (service) {
      expect(selects(service.spec.selector)).toBe(true);
      expect(service.spec.ports[0].targetPort).toBe("http");
    }
  });

  it("scales the worker on SQS queue depth with KEDA, and nothing else sets its replicas", () => {
    const scaledObject = find(objects, "ScaledObject", "vigil-worker");
    expect(scaledObject.spec.scaleTargetRef.name).toBe("vigil-worker");
    expect(find(objects, "Deployment", "vigil-worker").spec.replicas).toBeUndefined();
    expect(scaledObject.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    const [trigger] = scaledObject.spec.triggers;
    expect(trigger.type).toBe("aws-sqs-queue");
    const configMap = find(objects, "ConfigMap", "vigil-config");
    expect(trigger.metadata.queueURL).toBe(configMap.data.SQS_QUEUE_URL);
    expect(trigger.metadata.awsRegion).toBe(configMap.data.AWS_REGION);
    expect(
      find(objects, "TriggerAuthentication", trigger.authenticationRef.name).spec.podIdentity.provider,
    ).toBe("aws");
  });

  it("migrates as the owner role in a Job, and the services never get the owner URL", () => {
    const migrate = theContainer(find(objects, "Job", "vigil-migrate"));
    expect(migrate.command).toEqual(["pnpm", "vigil", "migrate"]);
    expect(migrate.env.map((variable: Manifest) => variable.name)).toContain("DATABASE_ADMIN_URL");
    for (const { name } of SERVICES) {
      const container = theContainer(find(objects, "Deployment", `vigil-${name}`));
      expect((container.env ?? []).map((variable: Manifest) => variable.name)).not.toContain(
        "DATABASE_ADMIN_URL",
      );
    }
  });
});

describe("the example overlay", () => {
  it("puts everything in its namespace, with its image, replicas and queue", () => {
    for (const object of overlay.filter((o) => o.kind !== "Namespace"))
      expect(object.metadata.namespace).toBe("vigil");
    for (const container of overlay.flatMap(podContainers))
      expect(container.image).toBe("registry.example.com/vigil:0.1.0");
    expect(find(overlay, "Deployment", "vigil-api").spec.replicas).toBe(3);
    expect(find(overlay, "ConfigMap", "vigil-config").data.SQS_QUEUE_URL).toContain("123456789012");
    expect(find(overlay, "ScaledObject", "vigil-worker").spec.maxReplicaCount).toBe(30);
  });
});

describe("the schema validators are live", () => {
  const deployment = find(base, "Deployment", "vigil-api");
  it("rejects a container port given as a string", () => {
    const broken = structuredClone(deployment);
    broken.spec.template.spec.containers[0].ports[0].containerPort = "8080";
    expect(() => validate(broken)).toThrow(/containerPort/);
  });
  it("rejects replicas given as a string", () => {
    const broken = structuredClone(deployment);
    broken.spec.replicas = "3";
    expect(() => validate(broken)).toThrow(/replicas/);
  });
  it("rejects a ScaledObject without scaleTargetRef", () => {
    const broken = structuredClone(find(base, "ScaledObject", "vigil-worker"));
    delete broken.spec.scaleTargetRef;
    expect(() => validate(broken)).toThrow(/scaleTargetRef/);
  });
  it("rejects a ScaledObject trigger without a type", () => {
    const broken = structuredClone(find(base, "ScaledObject", "vigil-worker"));
    delete broken.spec.triggers[0].type;
    expect(() => validate(broken)).toThrow(/type/);
  });
  it("rejects a PodDisruptionBudget whose minAvailable is an object", () => {
    const broken = structuredClone(find(base, "PodDisruptionBudget", "vigil-api"));
    broken.spec.minAvailable = { count: 1 };
    expect(() => validate(broken)).toThrow();
  });
  it("rejects a kind it has no schema for", () => {
    expect(() => validate({ apiVersion: "v1", kind: "Pod", metadata: { name: "x" } })).toThrow(/no schema/);
  });
});
