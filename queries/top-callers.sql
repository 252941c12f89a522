-- name: top-callers
-- description: The principals making the most calls, with their error counts.
-- tags: operations
-- param: start timestamp = -7d
-- param: end timestamp = now
SELECT principal_name(useridentity) AS principal, useridentity.type AS type, count(*) AS calls,
       count_if(errorcode IS NOT NULL) AS errors, count(DISTINCT eventname) AS distinct_calls
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
GROUP BY 1, 2
ORDER BY calls DESC, principal
LIMIT 20
