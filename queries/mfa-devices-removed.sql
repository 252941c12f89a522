-- name: mfa-devices-removed
-- description: MFA devices deactivated or deleted.
-- tags: security, detection, iam
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, eventname, element_at(requestparameters, 'userName') AS user_name, useridentity.arn AS by_principal
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end AND eventsource = 'iam.amazonaws.com' AND eventname IN ('DeactivateMFADevice', 'DeleteVirtualMFADevice')
ORDER BY eventtime
