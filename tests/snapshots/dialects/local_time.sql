-- statement 1, as written (DuckDB)
SELECT ((ts AT TIME ZONE 'UTC') AT TIME ZONE $scope_timezone) AS v FROM events
-- PostgreSQL
SELECT ((ts AT TIME ZONE 'UTC') AT TIME ZONE %(scope_timezone)s) AS v
 FROM events
-- Spark
SELECT (FROM_UTC_TIMESTAMP((FROM_UTC_TIMESTAMP(ts, 'UTC')), :scope_timezone)) AS v
 FROM tp_db.events AS events
