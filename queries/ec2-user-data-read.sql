-- name: ec2-user-data-read
-- description: EC2 instance user data read (it often holds secrets).
-- tags: security, detection, credential-access, ec2
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, element_at(requestparameters, 'instanceId') AS instance_id, useridentity.arn AS principal, sourceipaddress
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
  AND eventsource = 'ec2.amazonaws.com'
  AND eventname = 'DescribeInstanceAttribute'
  AND element_at(requestparameters, 'attribute') = 'userData'
ORDER BY eventtime
