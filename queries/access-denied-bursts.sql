-- name: access-denied-bursts
-- description: Principals with at least $min_denials AccessDenied errors within one hour.
-- tags: security, detection, discovery
-- param: start timestamp = -30d
-- param: end timestamp = now
-- param: min_denials integer = 10
SELECT useridentity.arn AS principal, date_trunc('hour', eventtime) AS hour, count(*) AS denials,
       count(DISTINCT eventname) AS distinct_calls, min(sourceipaddress) AS source_ip
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
  AND (errorcode LIKE '%AccessDenied%' OR errorcode LIKE '%UnauthorizedOperation%' OR errorcode = 'UnauthorizedAccess')
GROUP BY 1, 2
HAVING count(*) >= $min_denials
ORDER BY denials DESC, hour
