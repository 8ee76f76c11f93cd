// @vigil/verify hashes with a pure-JS SHA-256 so it runs anywhere; inside Vigil's services the
// tree is hashed by Node's native one (importing this module switches it, once per process).
import { createHash } from "node:crypto";
import { setSha256 } from "@vigil/verify";

setSha256((data) => createHash("sha256").update(data).digest());
