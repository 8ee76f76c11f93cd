// @vigil/verify hashes with a pure-JS SHA-256 so it runs anywhere; inside Vigil's services the
// tree is hashed by Node's native one (importing this module switches it, once per process).
// Node's one-shot `crypto.hash` (20.12+) skips the Hash object, about half the cost per leaf.
import * as crypto from "node:crypto";
import { setSha256 } from "@vigil/verify";

const oneShot = typeof crypto.hash === "function" ? crypto.hash : undefined;

setSha256(
  oneShot
    ? (data) => oneShot("sha256", data, "buffer")
    : (data) => crypto.createHash("sha256").update(data).digest(),
);
