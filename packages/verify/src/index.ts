// @vigil/verify: check Vigil's provable history offline — RFC 9162 Merkle proofs, C2SP tiles,
// signed checkpoints, range proofs and export bundles. No dependencies; runs in Node, browsers,
// Deno and Bun.
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
