-- name: activity-by-hour
-- description: Calls per hour of the day (UTC), to see when the organization works.
-- tags: operations, overview
-- param: start timestamp = -7d
-- param: end timestamp = now
SELECT hour(eventtime) AS hour_utc, count(*) AS calls, count_if(errorcode IS NOT NULL) AS errors
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
GROUP BY 1
ORDER BY 1
