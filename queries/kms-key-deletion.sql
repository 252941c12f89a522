-- name: kms-key-deletion
-- description: KMS keys scheduled for deletion or disabled.
-- tags: security, detection, impact, kms
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, eventname, element_at(requestparameters, 'keyId') AS key_id,
       element_at(requestparameters, 'pendingWindowInDays') AS pending_days, useridentity.arn AS by_principal
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end AND eventsource = 'kms.amazonaws.com' AND eventname IN ('ScheduleKeyDeletion', 'DisableKey')
ORDER BY eventtime
