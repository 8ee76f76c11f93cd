// Every migration, in order. Names are ISO timestamp + slug; Kysely applies them sorted by name.
import type { Migration } from "kysely";
import * as initialSchema from "./20261121T2230_initial_schema.ts";
import * as usersTokensSigningKeys from "./20261121T2231_users_tokens_signing_keys.ts";
import * as retentionPartitionDrop from "./20261121T2236_retention_partition_drop.ts";
import * as eventRemovedRanges from "./20261121T2340_event_removed_ranges.ts";
import * as authChangeNotify from "./20261122T0059_auth_change_notify.ts";
import * as cursorSigningKey from "./20261207T1002_cursor_signing_key.ts";
import * as userAuthChangeNotify from "./20261207T1003_user_auth_change_notify.ts";
import * as provableHistory from "./20261207T1004_provable_history.ts";
import * as viewerTokens from "./20261207T1005_viewer_tokens.ts";
import * as logStreams from "./20261207T1006_log_streams.ts";
import * as searchIndexWatermark from "./20261207T1007_search_index_watermark.ts";
import * as eventArchives from "./20261207T1008_event_archives.ts";
import * as refreshSuccessor from "./20261207T1011_refresh_successor.ts";
import * as queryScalingIndexes from "./20261207T1012_query_scaling_indexes.ts";
import * as userRollups from "./20261207T1013_user_rollups.ts";
import * as userRollupsDaily from "./20261207T1013_user_rollups_daily.ts";
import * as userRollupsErasure from "./20261207T1013_user_rollups_erasure.ts";
import * as tenantSearchIndex from "./20261207T1014_tenant_search_index.ts";
import * as statsRollupsDaily from "./20261207T1015_stats_rollups_daily.ts";

export const migrations: Record<string, Migration> = {
  "20261121T2230_initial_schema": initialSchema,
  "20261121T2231_users_tokens_signing_keys": usersTokensSigningKeys,
  "20261121T2236_retention_partition_drop": retentionPartitionDrop,
  "20261121T2340_event_removed_ranges": eventRemovedRanges,
  "20261122T0059_auth_change_notify": authChangeNotify,
  "20261207T1002_cursor_signing_key": cursorSigningKey,
  "20261207T1003_user_auth_change_notify": userAuthChangeNotify,
  "20261207T1004_provable_history": provableHistory,
  "20261207T1005_viewer_tokens": viewerTokens,
  "20261207T1006_log_streams": logStreams,
  "20261207T1007_search_index_watermark": searchIndexWatermark,
  "20261207T1008_event_archives": eventArchives,
  "20261207T1011_refresh_successor": refreshSuccessor,
  "20261207T1012_query_scaling_indexes": queryScalingIndexes,
  "20261207T1013_user_rollups": userRollups,
  "20261207T1013_user_rollups_daily": userRollupsDaily,
  "20261207T1013_user_rollups_erasure": userRollupsErasure,
  "20261207T1014_tenant_search_index": tenantSearchIndex,
  "20261207T1015_stats_rollups_daily": statsRollupsDaily,
};
