-- name: root-account-use
-- description: Calls made with the root user's own credentials (not by AWS services on its behalf).
-- tags: security, detection, iam
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, eventname, eventsource, sourceipaddress, awsregion, useragent, errorcode
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
  AND useridentity.type = 'Root'
  AND useridentity.invokedby IS NULL
  AND eventtype <> 'AwsServiceEvent'
ORDER BY eventtime
