CREATE TABLE IF NOT EXISTS `liveinsight`.schema_migrations (version UInt32, description String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version
-- 1: events and sessions tables
CREATE TABLE IF NOT EXISTS `liveinsight`.events (
    `timestamp` DateTime64(3, 'UTC'),
    `site_id` UInt32,
    `name` LowCardinality(String),
    `visitor_id` UInt64,
    `session_id` UInt64,
    `hostname` LowCardinality(String),
    `pathname` LowCardinality(String),
    `referrer` String,
    `referrer_source` LowCardinality(String),
    `channel` LowCardinality(String),
    `utm_source` LowCardinality(String),
    `utm_medium` LowCardinality(String),
    `utm_campaign` LowCardinality(String),
    `utm_content` String,
    `utm_term` String,
    `country_code` LowCardinality(String),
    `region` LowCardinality(String),
    `city` LowCardinality(String),
    `device` LowCardinality(String),
    `browser` LowCardinality(String),
    `browser_version` LowCardinality(String),
    `os` LowCardinality(String),
    `os_version` LowCardinality(String),
    `screen` LowCardinality(String),
    `props` Map(String, String),
    `revenue` Decimal64(4),
    `revenue_currency` LowCardinality(String),
    `engagement_ms` UInt32,
    `scroll_depth` UInt8,
    `retention_days` UInt16
) ENGINE = MergeTree PARTITION BY toYYYYMM(timestamp) ORDER BY (site_id, toDate(timestamp), name, visitor_id, timestamp) TTL toDateTime(timestamp) + toIntervalDay(if(retention_days = 0, 18250, retention_days)) SETTINGS non_replicated_deduplication_window = 10000;
CREATE TABLE IF NOT EXISTS `liveinsight`.sessions (
    `site_id` UInt32,
    `session_id` UInt64,
    `visitor_id` UInt64,
    `sign` Int8,
    `version` UInt32,
    `start` DateTime64(3, 'UTC'),
    `timestamp` DateTime64(3, 'UTC'),
    `hostname` LowCardinality(String),
    `entry_page` LowCardinality(String),
    `exit_page` LowCardinality(String),
    `pageviews` UInt32,
    `events` UInt32,
    `duration` UInt32,
    `is_bounce` UInt8,
    `referrer` String,
    `referrer_source` LowCardinality(String),
    `channel` LowCardinality(String),
    `utm_source` LowCardinality(String),
    `utm_medium` LowCardinality(String),
    `utm_campaign` LowCardinality(String),
    `utm_content` String,
    `utm_term` String,
    `country_code` LowCardinality(String),
    `region` LowCardinality(String),
    `city` LowCardinality(String),
    `device` LowCardinality(String),
    `browser` LowCardinality(String),
    `browser_version` LowCardinality(String),
    `os` LowCardinality(String),
    `os_version` LowCardinality(String),
    `screen` LowCardinality(String),
    `retention_days` UInt16
) ENGINE = VersionedCollapsingMergeTree(sign, version) PARTITION BY toYYYYMM(start) ORDER BY (site_id, toDate(start), session_id) TTL toDateTime(start) + toIntervalDay(if(retention_days = 0, 18250, retention_days)) SETTINGS non_replicated_deduplication_window = 10000;
-- 2: fsync inserted parts (the log deletes a segment after its insert)
ALTER TABLE `liveinsight`.events MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1;
ALTER TABLE `liveinsight`.sessions MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1;
-- 3: hourly/daily/weekly rollups of events and sessions (backfilled)
CREATE TABLE IF NOT EXISTS `liveinsight`.events_rollup (site_id UInt32, level UInt8, bucket DateTime('UTC'), dim LowCardinality(String), value String, retention_days UInt16, visitors AggregateFunction(uniqCombined, UInt64), pageviews SimpleAggregateFunction(sum, UInt64), events SimpleAggregateFunction(sum, UInt64)) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(bucket) ORDER BY (site_id, dim, level, bucket, value, retention_days) TTL toDateTime(bucket) + toIntervalDay(if(retention_days = 0, 18250, retention_days)) SETTINGS non_replicated_deduplication_window = 10000, fsync_after_insert = 1, fsync_part_directory = 1;
CREATE TABLE IF NOT EXISTS `liveinsight`.sessions_rollup (site_id UInt32, level UInt8, bucket DateTime('UTC'), dim LowCardinality(String), value String, retention_days UInt16, visits SimpleAggregateFunction(sum, Int64), bounces SimpleAggregateFunction(sum, Int64), seconds SimpleAggregateFunction(sum, Int64), views SimpleAggregateFunction(sum, Int64)) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(bucket) ORDER BY (site_id, dim, level, bucket, value, retention_days) TTL toDateTime(bucket) + toIntervalDay(if(retention_days = 0, 18250, retention_days)) SETTINGS non_replicated_deduplication_window = 10000, fsync_after_insert = 1, fsync_part_directory = 1;
CREATE MATERIALIZED VIEW IF NOT EXISTS `liveinsight`.events_rollup_mv TO `liveinsight`.events_rollup AS SELECT site_id, _l.1 AS level, _l.2 AS bucket, _d.1 AS dim, _d.2 AS value, retention_days, uniqCombinedState(visitor_id) AS visitors, countIf(name = 'pageview') AS pageviews, count() AS events FROM `liveinsight`.events ARRAY JOIN [('', toString(''))] AS _d ARRAY JOIN [(0, toStartOfHour(toDateTime(timestamp, 'UTC'))), (1, toStartOfDay(toDateTime(timestamp, 'UTC'))), (2, toDateTime(toMonday(toDateTime(timestamp, 'UTC')), 'UTC'))] AS _l WHERE name != 'engagement' GROUP BY site_id, level, bucket, dim, value, retention_days;
TRUNCATE TABLE `liveinsight`.events_rollup;
INSERT INTO `liveinsight`.events_rollup SELECT site_id, _l.1 AS level, _l.2 AS bucket, _d.1 AS dim, _d.2 AS value, retention_days, uniqCombinedState(visitor_id) AS visitors, countIf(name = 'pageview') AS pageviews, count() AS events FROM `liveinsight`.events ARRAY JOIN [('', toString(''))] AS _d ARRAY JOIN [(0, toStartOfHour(toDateTime(timestamp, 'UTC'))), (1, toStartOfDay(toDateTime(timestamp, 'UTC'))), (2, toDateTime(toMonday(toDateTime(timestamp, 'UTC')), 'UTC'))] AS _l WHERE name != 'engagement' GROUP BY site_id, level, bucket, dim, value, retention_days;
CREATE MATERIALIZED VIEW IF NOT EXISTS `liveinsight`.sessions_rollup_mv TO `liveinsight`.sessions_rollup AS SELECT site_id, _l.1 AS level, _l.2 AS bucket, _d.1 AS dim, _d.2 AS value, retention_days, sum(sign) AS visits, sum(sign * is_bounce) AS bounces, sum(sign * duration) AS seconds, sum(sign * pageviews) AS views FROM `liveinsight`.sessions ARRAY JOIN [('', toString(''))] AS _d ARRAY JOIN [(0, toStartOfHour(toDateTime(start, 'UTC'))), (1, toStartOfDay(toDateTime(start, 'UTC'))), (2, toDateTime(toMonday(toDateTime(start, 'UTC')), 'UTC'))] AS _l GROUP BY site_id, level, bucket, dim, value, retention_days;
TRUNCATE TABLE `liveinsight`.sessions_rollup;
INSERT INTO `liveinsight`.sessions_rollup SELECT site_id, _l.1 AS level, _l.2 AS bucket, _d.1 AS dim, _d.2 AS value, retention_days, sum(sign) AS visits, sum(sign * is_bounce) AS bounces, sum(sign * duration) AS seconds, sum(sign * pageviews) AS views FROM `liveinsight`.sessions ARRAY JOIN [('', toString(''))] AS _d ARRAY JOIN [(0, toStartOfHour(toDateTime(start, 'UTC'))), (1, toStartOfDay(toDateTime(start, 'UTC'))), (2, toDateTime(toMonday(toDateTime(start, 'UTC')), 'UTC'))] AS _l GROUP BY site_id, level, bucket, dim, value, retention_days;
-- 4: pages as LowCardinality(String) (grouping by page: no string hashing)
ALTER TABLE `liveinsight`.events MODIFY COLUMN pathname LowCardinality(String) SETTINGS mutations_sync = 2;
ALTER TABLE `liveinsight`.sessions MODIFY COLUMN entry_page LowCardinality(String), MODIFY COLUMN exit_page LowCardinality(String) SETTINGS mutations_sync = 2;
-- 5: events sampled by visitor (SAMPLE BY visitor_id: whole visitors in a sample; metadata only, no rewrite)
ALTER TABLE `liveinsight`.events MODIFY SAMPLE BY visitor_id;
