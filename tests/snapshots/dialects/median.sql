-- statement 1, as written (DuckDB)
SELECT median(wait_seconds) AS v FROM events
-- PostgreSQL
SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY wait_seconds) AS v
 FROM events
-- Spark
SELECT MEDIAN(wait_seconds) AS v
 FROM tp_db.events AS events
