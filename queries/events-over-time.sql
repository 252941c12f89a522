-- name: events-over-time
-- description: Calls per day and region.
-- tags: operations, overview
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT date_trunc('day', eventtime) AS day, awsregion, count(*) AS calls
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
GROUP BY 1, 2
ORDER BY 1, 2
