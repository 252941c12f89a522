-- name: ip-activity
-- description: Every call from one source IP address.
-- tags: investigation
-- param: start timestamp = -30d
-- param: end timestamp = now
-- param: ip string
SELECT eventtime, useridentity.arn AS principal, eventsource, eventname, awsregion, errorcode, useragent
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end AND sourceipaddress = $ip
ORDER BY eventtime
LIMIT 10000
