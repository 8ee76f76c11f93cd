// @vigil/verify: check Vigil's provable history offline — RFC 9162 Merkle proofs, C2SP tiles,
// signed checkpoints, range proofs and export bundles. No dependencies; runs in Node, browsers,
// Deno and Bun.

export {
  BUNDLE_CHECKPOINT,
  BUNDLE_EVENTS,
  BUNDLE_PROOF,
  type BundleHead,
  type BundleProgress,
  type BundleReport,
  bundleEventLine,
  type ErasedEvent,
  type VerifyBundleOptions,
  verifyBundle,
  writeBundle,
} from "./bundle.ts";
export { canonicalize } from "./canonical-json.ts";
export { type Checkpoint, CheckpointError, formatCheckpoint, parseCheckpoint } from "./checkpoint.ts";
export { ed25519PublicKey, ed25519Sign, ed25519Verify } from "./ed25519.ts";
export {
  concatBytes,
  equalBytes,
  fromBase64,
  fromHex,
  toBase64,
  toHex,
  utf8Decode,
  utf8Encode,
} from "./encoding.ts";
export {
  canonicalEventJson,
  computeEventHash,
  EVENT_HASHED_FIELDS,
  hashedEventFields,
} from "./event-hash.ts";
export { MemoryTileStore } from "./memory-tile-store.ts";
export {
  emptyRoot,
  eventLeafHash,
  HASH_SIZE,
  type Hash,
  LEAF_DATA_SIZE,
  leafData,
  leafHash,
  nodeHash,
  uuidBytes,
} from "./merkle-hash.ts";
export {
  ProofError,
  rootFromConsistencyProof,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from "./merkle-proofs.ts";
export {
  parseRangeProof,
  proveRange,
  RANGE_PROOF_FORMAT,
  type RangeProof,
  RangeVerifier,
  rangeProofToJson,
  rightHashCount,
  verifyRange,
} from "./range-proof.ts";
export { pureSha256, type Sha256Function, setSha256, sha256 } from "./sha256.ts";
export { openCheckpoint, signCheckpoint } from "./signed-checkpoint.ts";
export {
  isValidKeyName,
  keyId,
  NoteError,
  type NoteSignature,
  type NoteSigner,
  type OpenedNote,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signerKey,
  signNote,
  type VerifierKey,
  verifierKey,
  verifierKeyOf,
} from "./signed-note.ts";
export {
  type ByteSource,
  countBytes,
  readTar,
  TAR_BLOCK,
  type TarEntry,
  type TarEntryOptions,
  TarError,
  tarEnd,
  tarEntry,
  tarHeader,
  tarPadding,
  tarStreamEntry,
} from "./tar.ts";
export {
  appendLeaves,
  proveConsistency,
  proveInclusion,
  readStoredHashes,
  subtreeRangeHash,
  type TileReader,
  type TileWrite,
  treeHash,
} from "./tile-log.ts";
export {
  hashFromTile,
  isValidTile,
  newTiles,
  parseTilePath,
  splitStoredHashIndex,
  storedHashCount,
  storedHashIndex,
  TILE_HEIGHT,
  TILE_WIDTH,
  type Tile,
  tileForIndex,
  tileHash,
  tilePath,
  tileWidthAt,
} from "./tiles.ts";
export { MAX_TREE_SIZE } from "./tree-math.ts";
