-- name: activity-by-region
-- description: Calls per region, with reads, writes and errors.
-- tags: operations, overview
-- param: start timestamp = -7d
-- param: end timestamp = now
SELECT awsregion, count(*) AS calls, count_if(readonly) AS reads, count_if(NOT readonly) AS writes,
       count_if(errorcode IS NOT NULL) AS errors
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
GROUP BY 1
ORDER BY calls DESC, awsregion
