-- name: login-profiles-created
-- description: Console passwords given to IAM users (login profiles created or changed).
-- tags: security, detection, persistence, iam
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, eventname, element_at(requestparameters, 'userName') AS for_user, useridentity.arn AS by_principal, sourceipaddress
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end AND eventsource = 'iam.amazonaws.com' AND eventname IN ('CreateLoginProfile', 'UpdateLoginProfile')
ORDER BY eventtime
