-- name: resource-activity
-- description: Everything done to one resource: give its ARN (or a bucket, key, instance or function name).
-- tags: investigation
-- param: start timestamp = -30d
-- param: end timestamp = now
-- param: resource string
SELECT eventtime, eventsource, eventname, useridentity.arn AS principal, sourceipaddress, errorcode
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
  AND (any_match(resources, r -> r.arn = $resource)
       OR contains(map_values(requestparameters), $resource)
       OR contains(map_values(requestparameters), arn_resource_name($resource)))
ORDER BY eventtime
LIMIT 10000
