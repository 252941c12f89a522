-- name: iam-users-created
-- description: IAM users created, and by whom.
-- tags: security, detection, persistence, iam
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, element_at(requestparameters, 'userName') AS new_user, useridentity.arn AS created_by, sourceipaddress, errorcode
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end AND eventsource = 'iam.amazonaws.com' AND eventname = 'CreateUser'
ORDER BY eventtime
