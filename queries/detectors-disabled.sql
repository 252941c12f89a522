-- name: detectors-disabled
-- description: GuardDuty detectors and Config recorders deleted, stopped or disabled.
-- tags: security, detection, defence-evasion
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, eventsource, eventname, useridentity.arn AS principal, sourceipaddress, awsregion, errorcode
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
  AND ((eventsource = 'guardduty.amazonaws.com' AND eventname IN ('DeleteDetector', 'DisassociateFromMasterAccount', 'StopMonitoringMembers'))
    OR (eventsource = 'guardduty.amazonaws.com' AND eventname = 'UpdateDetector' AND element_at(requestparameters, 'enable') = 'false')
    OR (eventsource = 'config.amazonaws.com' AND eventname IN ('StopConfigurationRecorder', 'DeleteConfigurationRecorder', 'DeleteDeliveryChannel')))
ORDER BY eventtime
