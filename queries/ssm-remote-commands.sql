-- name: ssm-remote-commands
-- description: Commands and interactive sessions run on instances through SSM.
-- tags: security, detection, execution, ssm
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, eventname, useridentity.arn AS principal, sourceipaddress,
       coalesce(element_at(requestparameters, 'documentName'), element_at(requestparameters, 'target')) AS what,
       coalesce(element_at(requestparameters, 'instanceIds'), element_at(requestparameters, 'target')) AS targets
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end AND eventsource = 'ssm.amazonaws.com' AND eventname IN ('SendCommand', 'StartSession')
ORDER BY eventtime
