-- name: throttling
-- description: Throttled calls, by service, call and principal.
-- tags: operations
-- param: start timestamp = -7d
-- param: end timestamp = now
SELECT eventsource, eventname, principal_name(useridentity) AS principal, count(*) AS throttled
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end AND errorcode IN ('ThrottlingException', 'Throttling', 'RequestLimitExceeded', 'TooManyRequestsException', 'SlowDown')
GROUP BY 1, 2, 3
ORDER BY throttled DESC, eventsource, eventname
