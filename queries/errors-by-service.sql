-- name: errors-by-service
-- description: Failed calls by service and error code.
-- tags: operations
-- param: start timestamp = -7d
-- param: end timestamp = now
SELECT eventsource, errorcode, count(*) AS errors, count(DISTINCT useridentity.arn) AS principals
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end AND errorcode IS NOT NULL
GROUP BY 1, 2
ORDER BY errors DESC, eventsource, errorcode
LIMIT 50
