-- statement 1, as written (DuckDB)
SELECT quantile_cont(wait_seconds, 0.9) AS v FROM events
-- PostgreSQL
SELECT PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY wait_seconds) AS v
 FROM events
-- Spark
SELECT PERCENTILE(wait_seconds, 0.9) AS v
 FROM tp_db.events AS events
