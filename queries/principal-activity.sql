-- name: principal-activity
-- description: Everything one principal did: give its ARN (a user, a role, or an assumed-role session).
-- tags: investigation
-- param: start timestamp = -30d
-- param: end timestamp = now
-- param: arn string
SELECT eventtime, eventsource, eventname, awsregion, sourceipaddress, errorcode, useridentity.arn AS arn
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
  AND (useridentity.arn = $arn OR useridentity.sessioncontext.sessionissuer.arn = $arn)
ORDER BY eventtime
LIMIT 10000
