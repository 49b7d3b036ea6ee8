-- statement 1, as written (DuckDB)
SELECT (((date_diff('day', DATE '2001-01-01', CAST(((ts AT TIME ZONE 'UTC') AT TIME ZONE $scope_timezone) AS DATE)) % 7) + 7) % 7 + 1) AS v FROM events
-- PostgreSQL
SELECT ((((CAST(((ts AT TIME ZONE 'UTC') AT TIME ZONE %(scope_timezone)s) AS DATE) - CAST('2001-01-01' AS DATE)) %% 7) + 7) %% 7 + 1) AS v
 FROM events
-- Spark
SELECT (((CAST(FLOOR(UNIX_MICROS(CAST(CAST((FROM_UTC_TIMESTAMP(CAST((FROM_UTC_TIMESTAMP(CAST(ts AS TIMESTAMP), 'UTC')) AS TIMESTAMP), :scope_timezone)) AS DATE) AS TIMESTAMP)) / 86400000000) - FLOOR(UNIX_MICROS(CAST(CAST('2001-01-01' AS DATE) AS TIMESTAMP)) / 86400000000) AS BIGINT) % 7) + 7) % 7 + 1) AS v
 FROM tp_db.events AS events
