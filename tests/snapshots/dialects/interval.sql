-- statement 1, as written (DuckDB)
SELECT ts + INTERVAL '3600' SECOND AS v FROM events
-- PostgreSQL
SELECT ts + INTERVAL '3600 SECOND' AS v
 FROM events
-- Spark
SELECT ts + INTERVAL '3600' SECOND AS v
 FROM tp_db.events AS events
