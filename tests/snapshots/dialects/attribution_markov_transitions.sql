-- statement 1, as written (DuckDB)
WITH s AS (
        SELECT cycle_id, converts, cycle_value, pos, n, concat_ws('>', label, next1) AS state, CASE WHEN pos = 1 THEN '(start)' ELSE concat_ws('>', prev1, label) END AS prev
        FROM (SELECT cycle_id, cycle_converts AS converts, ts, cycle_end, touchpoint, label, step AS pos, steps AS n, coalesce(sum(CASE WHEN action = 'purchase' THEN value END) OVER (PARTITION BY customer_id, cycle_no ORDER BY step ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING), 0) AS cycle_value, lead(label, 1) OVER (PARTITION BY customer_id, cycle_no ORDER BY step) AS next1, lag(label, 1) OVER (PARTITION BY customer_id, cycle_no ORDER BY step) AS prev1 FROM (SELECT x.*, (touchpoint) AS label FROM (SELECT c.*,
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
        FROM (SELECT seq, source, channel, kind, event_id, customer_id, touchpoint, ts, action, value, agent, wait_seconds, handle_seconds, abandoned, resolved, nps, csat, ces, comment, promise, emotion, data_reused, segment, ref_event_id,
      coalesce(phase, CASE
        WHEN action = 'purchase' OR _next_purchase <= ts + INTERVAL '3600' SECOND THEN 'during'
        WHEN _prev_purchase >= ts - INTERVAL '7776000' SECOND THEN 'after'
        ELSE 'before' END) AS phase
    FROM (
      SELECT j.*,
        min(CASE WHEN action = 'purchase' THEN ts END) OVER (
          PARTITION BY customer_id ORDER BY ts RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS _next_purchase,
        max(CASE WHEN action = 'purchase' THEN ts END) OVER (
          PARTITION BY customer_id ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS _prev_purchase
      FROM (SELECT e.*, t.channel AS channel, t.kind AS kind FROM events e LEFT JOIN touchpoints t ON t.id = e.touchpoint) j
    ) w) x
        WHERE x.action NOT IN ('feedback', 'queued')
      ) b
    ) c) x) s) p
      ),
      t AS (
        SELECT s.*, CASE WHEN pos = greatest(n - 2 + 1, 1) THEN 1 ELSE 0 END AS last
        FROM s WHERE pos <= greatest(n - 2 + 1, 1)
      ),
      x AS (
        SELECT CASE WHEN e.k = 0 THEN t.prev ELSE t.state END AS src,
          CASE WHEN e.k = 0 THEN t.state
               WHEN t.converts = 1 THEN '(conversion)' ELSE '(null)' END AS dst,
          CASE WHEN e.k = 1 THEN CAST(t.cycle_value AS DECIMAL(38, 6)) * t.converts
               ELSE 0 END AS value
        FROM t CROSS JOIN (SELECT 0 AS k UNION ALL SELECT 1 AS k) e
        WHERE e.k = 0 OR t.last = 1
      )
    SELECT src, dst, count(*) AS n, sum(value) AS value FROM x GROUP BY src, dst
-- PostgreSQL
WITH s AS (SELECT cycle_id, converts, cycle_value, pos, n, CONCAT_WS('>', label, next1) AS state,
  CASE WHEN pos = 1 THEN '(start)' ELSE CONCAT_WS('>', prev1, label) END AS prev
 FROM (SELECT cycle_id, cycle_converts AS converts,
  ts, cycle_end, touchpoint, label, step AS pos,
  steps AS n,
  COALESCE(SUM(CASE WHEN action = 'purchase' THEN value END) OVER (PARTITION BY customer_id, cycle_no ORDER BY step ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING), 0) AS cycle_value,
  LEAD(label, 1) OVER (PARTITION BY customer_id, cycle_no ORDER BY step) AS next1,
  LAG(label, 1) OVER (PARTITION BY customer_id, cycle_no ORDER BY step) AS prev1
 FROM (SELECT x.*, (touchpoint) AS label
 FROM (SELECT c.*, c.customer_id || '#' || CAST(c.cycle_no AS TEXT) AS cycle_id,
  ROW_NUMBER() OVER (PARTITION BY c.customer_id, c.cycle_no ORDER BY c.ts, c.seq) AS step,
  COUNT(*) OVER (PARTITION BY c.customer_id, c.cycle_no) AS steps,
  MAX(CASE WHEN c.action = 'purchase' THEN 1 ELSE 0 END) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_converts,
  MIN(c.ts) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_start,
  MAX(c.ts) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_end
 FROM (SELECT b.*, SUM(CASE WHEN b._prev_ts IS NULL OR b._prev_action = 'purchase' OR b.ts > b._prev_ts + INTERVAL '2592000 SECOND' THEN 1 ELSE 0 END) OVER (PARTITION BY b.customer_id ORDER BY b.ts, b.seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cycle_no
 FROM (SELECT x.*, LAG(x.ts) OVER (PARTITION BY x.customer_id ORDER BY x.ts, x.seq) AS _prev_ts,
  LAG(x.action) OVER (PARTITION BY x.customer_id ORDER BY x.ts, x.seq) AS _prev_action
 FROM (SELECT seq, source, channel, kind, event_id, customer_id, touchpoint, ts, action, value, agent, wait_seconds, handle_seconds, abandoned, resolved, nps, csat, ces, comment, promise, emotion, data_reused, segment, ref_event_id, COALESCE(phase, CASE WHEN action = 'purchase' OR _next_purchase <= ts + INTERVAL '3600 SECOND' THEN 'during' WHEN _prev_purchase >= ts - INTERVAL '7776000 SECOND' THEN 'after' ELSE 'before' END) AS phase
 FROM (SELECT j.*, MIN(CASE WHEN action = 'purchase' THEN ts END) OVER (PARTITION BY customer_id ORDER BY ts RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS _next_purchase,
  MAX(CASE WHEN action = 'purchase' THEN ts END) OVER (PARTITION BY customer_id ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS _prev_purchase
 FROM (SELECT e.*, t.channel AS channel,
  t.kind AS kind
 FROM events AS e
 LEFT JOIN touchpoints AS t ON t.id = e.touchpoint) AS j) AS w) AS x
 WHERE NOT x.action IN ('feedback', 'queued')) AS b) AS c) AS x) AS s) AS p), t AS (SELECT s.*, CASE WHEN pos = GREATEST(n - 2 + 1, 1) THEN 1 ELSE 0 END AS last
 FROM s
 WHERE pos <= GREATEST(n - 2 + 1, 1)), x AS (SELECT CASE WHEN e.k = 0 THEN t.prev ELSE t.state END AS src,
  CASE WHEN e.k = 0 THEN t.state WHEN t.converts = 1 THEN '(conversion)' ELSE '(null)' END AS dst,
  CASE WHEN e.k = 1 THEN CAST(t.cycle_value AS DECIMAL(38, 6)) * t.converts ELSE 0 END AS value
 FROM t
 CROSS JOIN (SELECT 0 AS k
 UNION ALL SELECT 1 AS k) AS e
 WHERE e.k = 0 OR t.last = 1) SELECT src, dst, COUNT(*) AS n,
  SUM(value) AS value
 FROM x
 GROUP BY src, dst
-- Spark
WITH s AS (SELECT cycle_id, converts, cycle_value, pos, n, CONCAT_WS('>', label, next1) AS state,
  CASE WHEN pos = 1 THEN '(start)' ELSE CONCAT_WS('>', prev1, label) END AS prev
 FROM (SELECT cycle_id, cycle_converts AS converts,
  ts, cycle_end, touchpoint, label, step AS pos,
  steps AS n,
  COALESCE(SUM(CASE WHEN action = 'purchase' THEN value END) OVER (PARTITION BY customer_id, cycle_no ORDER BY step NULLS LAST ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING), 0) AS cycle_value,
  LEAD(label, 1) OVER (PARTITION BY customer_id, cycle_no ORDER BY step NULLS LAST) AS next1,
  LAG(label, 1) OVER (PARTITION BY customer_id, cycle_no ORDER BY step NULLS LAST) AS prev1
 FROM (SELECT x.*, (touchpoint) AS label
 FROM (SELECT c.*, c.customer_id || '#' || CAST(c.cycle_no AS STRING) AS cycle_id,
  ROW_NUMBER() OVER (PARTITION BY c.customer_id, c.cycle_no ORDER BY c.ts NULLS LAST, c.seq NULLS LAST) AS step,
  COUNT(*) OVER (PARTITION BY c.customer_id, c.cycle_no) AS steps,
  MAX(CASE WHEN c.action = 'purchase' THEN 1 ELSE 0 END) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_converts,
  MIN(c.ts) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_start,
  MAX(c.ts) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_end
 FROM (SELECT b.*, SUM(CASE WHEN b._prev_ts IS NULL OR b._prev_action = 'purchase' OR b.ts > b._prev_ts + INTERVAL '2592000' SECOND THEN 1 ELSE 0 END) OVER (PARTITION BY b.customer_id ORDER BY b.ts NULLS LAST, b.seq NULLS LAST ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cycle_no
 FROM (SELECT x.*, LAG(x.ts) OVER (PARTITION BY x.customer_id ORDER BY x.ts NULLS LAST, x.seq NULLS LAST) AS _prev_ts,
  LAG(x.action) OVER (PARTITION BY x.customer_id ORDER BY x.ts NULLS LAST, x.seq NULLS LAST) AS _prev_action
 FROM (SELECT seq, source, channel, kind, event_id, customer_id, touchpoint, ts, action, value, agent, wait_seconds, handle_seconds, abandoned, resolved, nps, csat, ces, comment, promise, emotion, data_reused, segment, ref_event_id, COALESCE(phase, CASE WHEN action = 'purchase' OR _next_purchase <= ts + INTERVAL '3600' SECOND THEN 'during' WHEN _prev_purchase >= ts - INTERVAL '7776000' SECOND THEN 'after' ELSE 'before' END) AS phase
 FROM (SELECT j.*, MIN(CASE WHEN action = 'purchase' THEN ts END) OVER (PARTITION BY customer_id ORDER BY ts NULLS LAST RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS _next_purchase,
  MAX(CASE WHEN action = 'purchase' THEN ts END) OVER (PARTITION BY customer_id ORDER BY ts NULLS LAST RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS _prev_purchase
 FROM (SELECT e.*, t.channel AS channel,
  t.kind AS kind
 FROM tp_db.events AS e
 LEFT JOIN tp_db.touchpoints AS t ON t.id = e.touchpoint) AS j) AS w) AS x
 WHERE NOT x.action IN ('feedback', 'queued')) AS b) AS c) AS x) AS s) AS p), t AS (SELECT s.*, CASE WHEN pos = GREATEST(n - 2 + 1, 1) THEN 1 ELSE 0 END AS last
 FROM s
 WHERE pos <= GREATEST(n - 2 + 1, 1)), x AS (SELECT CASE WHEN e.k = 0 THEN t.prev ELSE t.state END AS src,
  CASE WHEN e.k = 0 THEN t.state WHEN t.converts = 1 THEN '(conversion)' ELSE '(null)' END AS dst,
  CASE WHEN e.k = 1 THEN CAST(t.cycle_value AS DECIMAL(38, 6)) * t.converts ELSE 0 END AS value
 FROM t
 CROSS JOIN (SELECT 0 AS k
 UNION ALL SELECT 1 AS k) AS e
 WHERE e.k = 0 OR t.last = 1) SELECT src, dst, COUNT(*) AS n,
  SUM(value) AS value
 FROM x
 GROUP BY src, dst
