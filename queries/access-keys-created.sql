-- name: access-keys-created
-- description: IAM access keys created, for whom and by whom.
-- tags: security, detection, persistence, iam
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, coalesce(element_at(requestparameters, 'userName'), useridentity.username) AS for_user,
       useridentity.arn AS created_by, sourceipaddress, errorcode
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end AND eventsource = 'iam.amazonaws.com' AND eventname = 'CreateAccessKey'
ORDER BY eventtime
