// The published package: built (ESM, CommonJS, declarations, CLI), checked by publint and
// @arethetypeswrong/cli as `pnpm publish` would ship it, importable from plain Node both ways, a
// core free of Node APIs, and the CLI's exit codes (0 verified, 1 failed, 2 usage).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import vm from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPackage, checkPackage, stagePackage } from "../scripts/build.ts";
import { proveRange, verifierKeyOf, writeBundle } from "../src/index.ts";
import { makeLog, testSigner } from "./fixtures.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const CLI = path.join(ROOT, "dist/cli.js");

describe("published package", () => {
  let dir: string;
  let key: string;
  let good: string;
  let tampered: string;

  beforeAll(async () => {
    await buildPackage();
    dir = mkdtempSync(path.join(tmpdir(), "vigil-verify-cli-"));
    const signer = testSigner();
    key = await verifierKeyOf(signer);
    const log = await makeLog(40, signer);
    const write = async (file: string, lines: string) => {
      const body = Buffer.from(lines);
      const proof = await proveRange(4, 30, 40, log.store);
      const chunks: Uint8Array[] = [];
      for await (const chunk of writeBundle({ checkpoint: log.note, proof }, body.length, [body]))
        chunks.push(chunk);
      writeFileSync(file, Buffer.concat(chunks));
      return file;
    };
    const events = log.events.slice(4, 30);
    good = await write(path.join(dir, "good.tar"), events.map((e) => `${JSON.stringify(e)}\n`).join(""));
    const changed = events.map((e, i) => (i === 3 ? { ...e, user_id: "mallory" } : e));
    tampered = await write(
      path.join(dir, "tampered.tar"),
      changed.map((e) => `${JSON.stringify(e)}\n`).join(""),
    );
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("passes publint and arethetypeswrong as published", () => {
    const stage = stagePackage();
    try {
      expect(() => checkPackage(stage)).not.toThrow();
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  }, 120_000);

  it("loads from plain Node as ESM and as CommonJS, with no dependency", () => {
    const probe = "typeof m.verifyInclusion + ' ' + typeof m.verifyBundle + ' ' + m.toHex(m.emptyRoot())";
    const expected = "function function e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const esm = execFileSync(process.execPath, [
      "--input-type=module",
      "-e",
      `const m = await import(${JSON.stringify(path.join(ROOT, "dist/esm/index.js"))}); console.log(${probe});`,
    ]);
    expect(esm.toString().trim()).toBe(expected);
    const cjs = execFileSync(process.execPath, [
      "-e",
      `const m = require(${JSON.stringify(path.join(ROOT, "dist/cjs/index.js"))}); console.log(${probe});`,
    ]);
    expect(cjs.toString().trim()).toBe(expected);
    const manifest = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));
    expect(manifest.dependencies).toBeUndefined();
  });

  it("runs with only web-standard globals (no Buffer, process or require), as in a browser", async () => {
    const context = vm.createContext({
      TextEncoder,
      TextDecoder,
      crypto: globalThis.crypto,
      console,
      exports: {},
      module: { exports: {} },
    });
    vm.runInContext(
      `module.exports = (function (module, exports) {\n${readFileSync(path.join(ROOT, "dist/cjs/index.js"), "utf8")}\nreturn module.exports; })({ exports: {} }, {});`,
      context,
    );
    vm.runInContext(
      `
      globalThis.check = async function check(bundle, key) {
        const m = module.exports;
        const seed = new Uint8Array(32).fill(7);
        const note = await m.signCheckpoint({ origin: "o", size: 0, rootHash: m.emptyRoot() }, { name: "k", privateKeySeed: seed });
        const vkey = await m.verifierKeyOf({ name: "k", privateKeySeed: seed });
        const opened = await m.openCheckpoint(note, [vkey]);
        const report = await m.verifyBundle(bundle, { verifierKeys: [key] });
        return [opened.checkpoint.size, typeof Buffer, typeof process, report.ok, report.events];
      };
    `,
      context,
    );
    const check = (context as { check: (bundle: Uint8Array, key: string) => Promise<unknown[]> }).check;
    expect(await check(new Uint8Array(readFileSync(good)), key)).toEqual([
      0,
      "undefined",
      "undefined",
      true,
      26,
    ]);
  });

  it("keeps Node APIs out of the core (only the CLI may use them)", () => {
    for (const file of readdirSync(path.join(ROOT, "src")).filter((name) => name !== "cli.ts")) {
      const source = readFileSync(path.join(ROOT, "src", file), "utf8");
      expect(source, file).not.toMatch(/from "node:|require\(|\bprocess\.|\bBuffer\b/);
    }
    expect(readFileSync(path.join(ROOT, "dist/esm/index.js"), "utf8")).not.toMatch(/node:/);
  });

  it("CLI: 0 for a good bundle, 1 for a tampered one, 2 for usage errors", () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
    const ok = run(good, "--key", key);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/good\.tar: OK/);
    expect(ok.stdout).toMatch(/seq 5\.\.30: 26 read, 26 hashes recomputed/);
    const bad = run(tampered, "--key", key);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/FAILED \(1 problem\)[\s\S]*seq 8 .*tampered/);
    const json = run(good, `--key=${key}`, "--json");
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, events: 26 });
    const stdin = spawnSync(process.execPath, [CLI, "-", "--key", key, "-q"], { input: readFileSync(good) });
    expect(stdin.status).toBe(0);
    const keyFile = path.join(dir, "keys.txt");
    writeFileSync(keyFile, `# trusted keys\n${key}\n`);
    expect(run(good, "--key", `@${keyFile}`).status).toBe(0);
    const wrongKey = run(good, "--key", key.replace(/^vigil-test/, "other"));
    expect(wrongKey.status).toBe(2);
    expect(run(good).status).toBe(2);
    expect(run("--key", key).status).toBe(2);
    expect(run(path.join(dir, "missing.tar"), "--key", key).status).toBe(2);
    expect(run(good, "--key", key, "--frobnicate").stderr).toMatch(/unknown option/);
  });
});
