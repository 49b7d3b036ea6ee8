-- statement 1, as written (DuckDB)
SELECT value FROM meta WHERE key = $key
-- PostgreSQL
SELECT value
 FROM meta
 WHERE key = %(key)s
-- Spark
SELECT value
 FROM meta
 WHERE key = :key

-- statement 2, as written (DuckDB)
SELECT date_trunc('week', ((ts AT TIME ZONE 'UTC') AT TIME ZONE $scope_timezone)) AS grp,
      count(*) AS events,
      count(DISTINCT customer_id) AS customers,
      sum(CASE WHEN (abandoned IS NOT NULL AND NOT (abandoned AND coalesce(wait_seconds < $kpi_short_abandon, FALSE))) THEN 1 ELSE 0 END) AS offered,
      sum(CASE WHEN (abandoned = FALSE) THEN 1 ELSE 0 END) AS answered,
      sum(CASE WHEN ((abandoned IS NOT NULL AND NOT (abandoned AND coalesce(wait_seconds < $kpi_short_abandon, FALSE))) AND abandoned) THEN 1 ELSE 0 END) AS abandoned,
      sum(CASE WHEN (abandoned = FALSE) THEN CAST(wait_seconds AS DECIMAL(38, 6)) END) AS wait_sum,
      count(CASE WHEN (abandoned = FALSE) THEN wait_seconds END) AS wait_n,
      sum(CASE WHEN (abandoned = FALSE) THEN CAST(handle_seconds AS DECIMAL(38, 6)) END) AS handle_sum,
      count(CASE WHEN (abandoned = FALSE) THEN handle_seconds END) AS handle_n,
      sum(CASE WHEN ((abandoned = FALSE) AND wait_seconds <= (CASE touchpoint WHEN $kpi_target_0 THEN $kpi_target_0_seconds WHEN $kpi_target_1 THEN $kpi_target_1_seconds WHEN $kpi_target_2 THEN $kpi_target_2_seconds WHEN $kpi_target_3 THEN $kpi_target_3_seconds ELSE $kpi_answer_within END)) THEN 1 ELSE 0 END) AS within,
      sum(CASE WHEN (resolved = TRUE) THEN 1 ELSE 0 END) AS resolved_true,
      count(resolved) AS resolved_n,
      sum(CASE WHEN (csat >= 4) THEN 1 ELSE 0 END) AS csat_good,
      count(csat) AS csat_n,
      sum(CASE WHEN (nps >= 9) THEN 1 ELSE 0 END) AS nps_promoters,
      sum(CASE WHEN (nps <= 6) THEN 1 ELSE 0 END) AS nps_detractors,
      count(nps) AS nps_n,
      sum(ces) AS ces_sum,
      count(ces) AS ces_n,
      sum(CASE WHEN (action = 'purchase') THEN 1 ELSE 0 END) AS conversions,
      sum(CASE WHEN (action = 'purchase') THEN CAST(value AS DECIMAL(38, 6)) END) AS revenue,
      sum(CASE WHEN promise = 'kept' THEN 1 ELSE 0 END) AS promise_kept,
      sum(CASE WHEN (promise = 'broken') THEN 1 ELSE 0 END) AS promise_broken,
      sum(CASE WHEN data_reused THEN 1 ELSE 0 END) AS reused_true,
      count(data_reused) AS reused_n,
      sum(emotion) AS emotion_sum,
      count(emotion) AS emotion_n
      FROM (SELECT * FROM (SELECT e.*, CAST(NULL AS VARCHAR) AS channel, CAST(NULL AS VARCHAR) AS kind FROM events e) r WHERE TRUE) s GROUP BY date_trunc('week', ((ts AT TIME ZONE 'UTC') AT TIME ZONE $scope_timezone))
-- PostgreSQL
SELECT DATE_TRUNC('WEEK', ((ts AT TIME ZONE 'UTC') AT TIME ZONE %(scope_timezone)s)) AS grp,
  COUNT(*) AS events,
  COUNT(DISTINCT customer_id) AS customers,
  SUM(CASE WHEN (NOT abandoned IS NULL AND NOT (abandoned AND COALESCE(wait_seconds < %(kpi_short_abandon)s, FALSE))) THEN 1 ELSE 0 END) AS offered,
  SUM(CASE WHEN (abandoned = FALSE) THEN 1 ELSE 0 END) AS answered,
  SUM(CASE WHEN ((NOT abandoned IS NULL AND NOT (abandoned AND COALESCE(wait_seconds < %(kpi_short_abandon)s, FALSE))) AND abandoned) THEN 1 ELSE 0 END) AS abandoned,
  SUM(CASE WHEN (abandoned = FALSE) THEN CAST(wait_seconds AS DECIMAL(38, 6)) END) AS wait_sum,
  COUNT(CASE WHEN (abandoned = FALSE) THEN wait_seconds END) AS wait_n,
  SUM(CASE WHEN (abandoned = FALSE) THEN CAST(handle_seconds AS DECIMAL(38, 6)) END) AS handle_sum,
  COUNT(CASE WHEN (abandoned = FALSE) THEN handle_seconds END) AS handle_n,
  SUM(CASE WHEN ((abandoned = FALSE) AND wait_seconds <= (CASE touchpoint WHEN %(kpi_target_0)s THEN %(kpi_target_0_seconds)s WHEN %(kpi_target_1)s THEN %(kpi_target_1_seconds)s WHEN %(kpi_target_2)s THEN %(kpi_target_2_seconds)s WHEN %(kpi_target_3)s THEN %(kpi_target_3_seconds)s ELSE %(kpi_answer_within)s END)) THEN 1 ELSE 0 END) AS within,
  SUM(CASE WHEN (resolved = TRUE) THEN 1 ELSE 0 END) AS resolved_true,
  COUNT(resolved) AS resolved_n,
  SUM(CASE WHEN (csat >= 4) THEN 1 ELSE 0 END) AS csat_good,
  COUNT(csat) AS csat_n,
  SUM(CASE WHEN (nps >= 9) THEN 1 ELSE 0 END) AS nps_promoters,
  SUM(CASE WHEN (nps <= 6) THEN 1 ELSE 0 END) AS nps_detractors,
  COUNT(nps) AS nps_n,
  SUM(ces) AS ces_sum,
  COUNT(ces) AS ces_n,
  SUM(CASE WHEN (action = 'purchase') THEN 1 ELSE 0 END) AS conversions,
  SUM(CASE WHEN (action = 'purchase') THEN CAST(value AS DECIMAL(38, 6)) END) AS revenue,
  SUM(CASE WHEN promise = 'kept' THEN 1 ELSE 0 END) AS promise_kept,
  SUM(CASE WHEN (promise = 'broken') THEN 1 ELSE 0 END) AS promise_broken,
  SUM(CASE WHEN data_reused THEN 1 ELSE 0 END) AS reused_true,
  COUNT(data_reused) AS reused_n,
  SUM(emotion) AS emotion_sum,
  COUNT(emotion) AS emotion_n
 FROM (SELECT *
 FROM (SELECT e.*, CAST(NULL AS TEXT) AS channel,
  CAST(NULL AS TEXT) AS kind
 FROM events AS e) AS r
 WHERE TRUE) AS s
 GROUP BY DATE_TRUNC('WEEK', ((ts AT TIME ZONE 'UTC') AT TIME ZONE %(scope_timezone)s))
-- Spark
SELECT DATE_TRUNC('WEEK', (FROM_UTC_TIMESTAMP((FROM_UTC_TIMESTAMP(ts, 'UTC')), :scope_timezone))) AS grp,
  COUNT(*) AS events,
  COUNT(DISTINCT customer_id) AS customers,
  SUM(CASE WHEN (NOT abandoned IS NULL AND NOT (abandoned AND COALESCE(wait_seconds < :kpi_short_abandon, FALSE))) THEN 1 ELSE 0 END) AS offered,
  SUM(CASE WHEN (abandoned = FALSE) THEN 1 ELSE 0 END) AS answered,
  SUM(CASE WHEN ((NOT abandoned IS NULL AND NOT (abandoned AND COALESCE(wait_seconds < :kpi_short_abandon, FALSE))) AND abandoned) THEN 1 ELSE 0 END) AS abandoned,
  SUM(CASE WHEN (abandoned = FALSE) THEN CAST(wait_seconds AS DECIMAL(38, 6)) END) AS wait_sum,
  COUNT(CASE WHEN (abandoned = FALSE) THEN wait_seconds END) AS wait_n,
  SUM(CASE WHEN (abandoned = FALSE) THEN CAST(handle_seconds AS DECIMAL(38, 6)) END) AS handle_sum,
  COUNT(CASE WHEN (abandoned = FALSE) THEN handle_seconds END) AS handle_n,
  SUM(CASE WHEN ((abandoned = FALSE) AND wait_seconds <= (CASE touchpoint WHEN :kpi_target_0 THEN :kpi_target_0_seconds WHEN :kpi_target_1 THEN :kpi_target_1_seconds WHEN :kpi_target_2 THEN :kpi_target_2_seconds WHEN :kpi_target_3 THEN :kpi_target_3_seconds ELSE :kpi_answer_within END)) THEN 1 ELSE 0 END) AS within,
  SUM(CASE WHEN (resolved = TRUE) THEN 1 ELSE 0 END) AS resolved_true,
  COUNT(resolved) AS resolved_n,
  SUM(CASE WHEN (csat >= 4) THEN 1 ELSE 0 END) AS csat_good,
  COUNT(csat) AS csat_n,
  SUM(CASE WHEN (nps >= 9) THEN 1 ELSE 0 END) AS nps_promoters,
  SUM(CASE WHEN (nps <= 6) THEN 1 ELSE 0 END) AS nps_detractors,
  COUNT(nps) AS nps_n,
  SUM(ces) AS ces_sum,
  COUNT(ces) AS ces_n,
  SUM(CASE WHEN (action = 'purchase') THEN 1 ELSE 0 END) AS conversions,
  SUM(CASE WHEN (action = 'purchase') THEN CAST(value AS DECIMAL(38, 6)) END) AS revenue,
  SUM(CASE WHEN promise = 'kept' THEN 1 ELSE 0 END) AS promise_kept,
  SUM(CASE WHEN (promise = 'broken') THEN 1 ELSE 0 END) AS promise_broken,
  SUM(CASE WHEN data_reused THEN 1 ELSE 0 END) AS reused_true,
  COUNT(data_reused) AS reused_n,
  SUM(emotion) AS emotion_sum,
  COUNT(emotion) AS emotion_n
 FROM (SELECT *
 FROM (SELECT e.*, CAST(NULL AS STRING) AS channel,
  CAST(NULL AS STRING) AS kind
 FROM tp_db.events AS e) AS r
 WHERE TRUE) AS s
 GROUP BY DATE_TRUNC('WEEK', (FROM_UTC_TIMESTAMP((FROM_UTC_TIMESTAMP(ts, 'UTC')), :scope_timezone)))

-- statement 3, as written (DuckDB)
WITH buyers AS (SELECT DISTINCT customer_id, date_trunc('week', ((ts AT TIME ZONE 'UTC') AT TIME ZONE $scope_timezone)) AS p
        FROM (SELECT * FROM (SELECT e.*, t.channel AS channel, t.kind AS kind FROM events e LEFT JOIN touchpoints t ON t.id = e.touchpoint) r WHERE TRUE) s WHERE action = 'purchase'), last_seen AS (SELECT max(((ts AT TIME ZONE 'UTC') AT TIME ZONE $scope_timezone)) AS last_ts FROM events)
      SELECT b.p AS p, count(*) AS buyers, count(n.customer_id) AS retained,
             max(CASE WHEN l.last_ts >= b.p + INTERVAL '2' WEEK THEN 1 ELSE 0 END) AS complete
      FROM buyers b
      CROSS JOIN last_seen l
      LEFT JOIN buyers n ON n.customer_id = b.customer_id AND n.p = b.p + INTERVAL '1' WEEK
      GROUP BY b.p
-- PostgreSQL
WITH buyers AS (SELECT DISTINCT customer_id, DATE_TRUNC('WEEK', ((ts AT TIME ZONE 'UTC') AT TIME ZONE %(scope_timezone)s)) AS p
 FROM (SELECT *
 FROM (SELECT e.*, t.channel AS channel,
  t.kind AS kind
 FROM events AS e
 LEFT JOIN touchpoints AS t ON t.id = e.touchpoint) AS r
 WHERE TRUE) AS s
 WHERE action = 'purchase'), last_seen AS (SELECT MAX(((ts AT TIME ZONE 'UTC') AT TIME ZONE %(scope_timezone)s)) AS last_ts
 FROM events) SELECT b.p AS p,
  COUNT(*) AS buyers,
  COUNT(n.customer_id) AS retained,
  MAX(CASE WHEN l.last_ts >= b.p + INTERVAL '2 WEEK' THEN 1 ELSE 0 END) AS complete
 FROM buyers AS b
 CROSS JOIN last_seen AS l
 LEFT JOIN buyers AS n ON n.customer_id = b.customer_id AND n.p = b.p + INTERVAL '1 WEEK'
 GROUP BY b.p
-- Spark
WITH buyers AS (SELECT DISTINCT customer_id, DATE_TRUNC('WEEK', (FROM_UTC_TIMESTAMP((FROM_UTC_TIMESTAMP(ts, 'UTC')), :scope_timezone))) AS p
 FROM (SELECT *
 FROM (SELECT e.*, t.channel AS channel,
  t.kind AS kind
 FROM tp_db.events AS e
 LEFT JOIN tp_db.touchpoints AS t ON t.id = e.touchpoint) AS r
 WHERE TRUE) AS s
 WHERE action = 'purchase'), last_seen AS (SELECT MAX((FROM_UTC_TIMESTAMP((FROM_UTC_TIMESTAMP(ts, 'UTC')), :scope_timezone))) AS last_ts
 FROM tp_db.events AS events) SELECT b.p AS p,
  COUNT(*) AS buyers,
  COUNT(n.customer_id) AS retained,
  MAX(CASE WHEN l.last_ts >= b.p + INTERVAL '2' WEEK THEN 1 ELSE 0 END) AS complete
 FROM buyers AS b
 CROSS JOIN last_seen AS l
 LEFT JOIN buyers AS n ON n.customer_id = b.customer_id AND n.p = b.p + INTERVAL '1' WEEK
 GROUP BY b.p
