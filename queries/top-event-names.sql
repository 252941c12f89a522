-- name: top-event-names
-- description: The most frequent API calls.
-- tags: operations, overview
-- param: start timestamp = -7d
-- param: end timestamp = now
SELECT eventsource, eventname, count(*) AS calls
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
GROUP BY 1, 2
ORDER BY calls DESC, eventsource, eventname
LIMIT 20
