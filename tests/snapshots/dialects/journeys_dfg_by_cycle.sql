-- statement 1, as written (DuckDB)
SELECT src, dst, count(*) AS n, sum(is_start) AS starts,
        avg(secs) AS mean_seconds, median(secs) AS median_seconds
      FROM (
        SELECT src, dst, is_start,
          CASE WHEN dst IS NULL THEN NULL ELSE date_diff('microsecond', ts, next_ts) / 1e6 END AS secs
        FROM (
          SELECT touchpoint AS src, ts,
            lead(touchpoint) OVER (PARTITION BY case_id ORDER BY ts, seq) AS dst,
            lead(ts) OVER (PARTITION BY case_id ORDER BY ts, seq) AS next_ts,
            CASE WHEN row_number() OVER (PARTITION BY case_id ORDER BY ts, seq) = 1 THEN 1 ELSE 0 END AS is_start
          FROM (SELECT cycle_id AS case_id, touchpoint, ts, seq
        FROM (SELECT * FROM (SELECT c.*,
        c.customer_id || '#' || CAST(c.cycle_no AS VARCHAR) AS cycle_id,
        row_number() OVER (PARTITION BY c.customer_id, c.cycle_no ORDER BY c.ts, c.seq) AS step,
        count(*) OVER (PARTITION BY c.customer_id, c.cycle_no) AS steps,
        max(CASE WHEN c.action = 'purchase' THEN 1 ELSE 0 END) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_converts,
        min(c.ts) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_start,
        max(c.ts) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_end
    FROM (
      SELECT b.*,
        sum(CASE WHEN b._prev_ts IS NULL OR b._prev_action = 'purchase'
                   OR b.ts > b._prev_ts + INTERVAL '2592000' SECOND THEN 1 ELSE 0 END)
          OVER (PARTITION BY b.customer_id ORDER BY b.ts, b.seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
          AS cycle_no
      FROM (
        SELECT x.*,
          lag(x.ts) OVER (PARTITION BY x.customer_id ORDER BY x.ts, x.seq) AS _prev_ts,
          lag(x.action) OVER (PARTITION BY x.customer_id ORDER BY x.ts, x.seq) AS _prev_action
        FROM (SELECT e.*, t.channel AS channel, t.kind AS kind FROM events e LEFT JOIN touchpoints t ON t.id = e.touchpoint) x
        WHERE x.action NOT IN ('feedback', 'queued')
      ) b
    ) c) s WHERE TRUE) s) c
        ) w
      ) t
      GROUP BY src, dst
-- PostgreSQL
SELECT src, dst, COUNT(*) AS n,
  SUM(is_start) AS starts,
  AVG(secs) AS mean_seconds,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY secs) AS median_seconds
 FROM (SELECT src, dst, is_start, CASE WHEN dst IS NULL THEN NULL ELSE CAST(CAST(EXTRACT(epoch FROM DATE_TRUNC('MICROSECOND', CAST(next_ts AS TIMESTAMP)) - DATE_TRUNC('MICROSECOND', CAST(ts AS TIMESTAMP))) * 1000000 AS BIGINT) AS DOUBLE PRECISION) / 1e6 END AS secs
 FROM (SELECT touchpoint AS src,
  ts, LEAD(touchpoint) OVER (PARTITION BY case_id ORDER BY ts, seq) AS dst,
  LEAD(ts) OVER (PARTITION BY case_id ORDER BY ts, seq) AS next_ts,
  CASE WHEN ROW_NUMBER() OVER (PARTITION BY case_id ORDER BY ts, seq) = 1 THEN 1 ELSE 0 END AS is_start
 FROM (SELECT cycle_id AS case_id,
  touchpoint, ts, seq
 FROM (SELECT *
 FROM (SELECT c.*, c.customer_id || '#' || CAST(c.cycle_no AS TEXT) AS cycle_id,
  ROW_NUMBER() OVER (PARTITION BY c.customer_id, c.cycle_no ORDER BY c.ts, c.seq) AS step,
  COUNT(*) OVER (PARTITION BY c.customer_id, c.cycle_no) AS steps,
  MAX(CASE WHEN c.action = 'purchase' THEN 1 ELSE 0 END) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_converts,
  MIN(c.ts) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_start,
  MAX(c.ts) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_end
 FROM (SELECT b.*, SUM(CASE WHEN b._prev_ts IS NULL OR b._prev_action = 'purchase' OR b.ts > b._prev_ts + INTERVAL '2592000 SECOND' THEN 1 ELSE 0 END) OVER (PARTITION BY b.customer_id ORDER BY b.ts, b.seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cycle_no
 FROM (SELECT x.*, LAG(x.ts) OVER (PARTITION BY x.customer_id ORDER BY x.ts, x.seq) AS _prev_ts,
  LAG(x.action) OVER (PARTITION BY x.customer_id ORDER BY x.ts, x.seq) AS _prev_action
 FROM (SELECT e.*, t.channel AS channel,
  t.kind AS kind
 FROM events AS e
 LEFT JOIN touchpoints AS t ON t.id = e.touchpoint) AS x
 WHERE NOT x.action IN ('feedback', 'queued')) AS b) AS c) AS s
 WHERE TRUE) AS s) AS c) AS w) AS t
 GROUP BY src, dst
-- Spark
SELECT src, dst, COUNT(*) AS n,
  SUM(is_start) AS starts,
  AVG(secs) AS mean_seconds,
  MEDIAN(secs) AS median_seconds
 FROM (SELECT src, dst, is_start, CASE WHEN dst IS NULL THEN NULL ELSE CAST(FLOOR(UNIX_MICROS(CAST(next_ts AS TIMESTAMP)) / 1) - FLOOR(UNIX_MICROS(CAST(ts AS TIMESTAMP)) / 1) AS BIGINT) / 1e6 END AS secs
 FROM (SELECT touchpoint AS src,
  ts, LEAD(touchpoint) OVER (PARTITION BY case_id ORDER BY ts NULLS LAST, seq NULLS LAST) AS dst,
  LEAD(ts) OVER (PARTITION BY case_id ORDER BY ts NULLS LAST, seq NULLS LAST) AS next_ts,
  CASE WHEN ROW_NUMBER() OVER (PARTITION BY case_id ORDER BY ts NULLS LAST, seq NULLS LAST) = 1 THEN 1 ELSE 0 END AS is_start
 FROM (SELECT cycle_id AS case_id,
  touchpoint, ts, seq
 FROM (SELECT *
 FROM (SELECT c.*, c.customer_id || '#' || CAST(c.cycle_no AS STRING) AS cycle_id,
  ROW_NUMBER() OVER (PARTITION BY c.customer_id, c.cycle_no ORDER BY c.ts NULLS LAST, c.seq NULLS LAST) AS step,
  COUNT(*) OVER (PARTITION BY c.customer_id, c.cycle_no) AS steps,
  MAX(CASE WHEN c.action = 'purchase' THEN 1 ELSE 0 END) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_converts,
  MIN(c.ts) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_start,
  MAX(c.ts) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_end
 FROM (SELECT b.*, SUM(CASE WHEN b._prev_ts IS NULL OR b._prev_action = 'purchase' OR b.ts > b._prev_ts + INTERVAL '2592000' SECOND THEN 1 ELSE 0 END) OVER (PARTITION BY b.customer_id ORDER BY b.ts NULLS LAST, b.seq NULLS LAST ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cycle_no
 FROM (SELECT x.*, LAG(x.ts) OVER (PARTITION BY x.customer_id ORDER BY x.ts NULLS LAST, x.seq NULLS LAST) AS _prev_ts,
  LAG(x.action) OVER (PARTITION BY x.customer_id ORDER BY x.ts NULLS LAST, x.seq NULLS LAST) AS _prev_action
 FROM (SELECT e.*, t.channel AS channel,
  t.kind AS kind
 FROM tp_db.events AS e
 LEFT JOIN tp_db.touchpoints AS t ON t.id = e.touchpoint) AS x
 WHERE NOT x.action IN ('feedback', 'queued')) AS b) AS c) AS s
 WHERE TRUE) AS s) AS c) AS w) AS t
 GROUP BY src, dst
