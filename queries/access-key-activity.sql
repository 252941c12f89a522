-- name: access-key-activity
-- description: Everything done with one access key ID.
-- tags: investigation
-- param: start timestamp = -30d
-- param: end timestamp = now
-- param: access_key string
SELECT eventtime, useridentity.arn AS principal, eventsource, eventname, awsregion, sourceipaddress, errorcode
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end AND useridentity.accesskeyid = $access_key
ORDER BY eventtime
LIMIT 10000
