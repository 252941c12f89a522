-- name: security-group-open-to-world
-- description: Security group rules opened to 0.0.0.0/0 or ::/0.
-- tags: security, detection, network
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, eventname, element_at(requestparameters, 'groupId') AS group_id, useridentity.arn AS by_principal, awsregion,
       element_at(requestparameters, 'ipPermissions') AS rules
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
  AND eventsource = 'ec2.amazonaws.com'
  AND eventname IN ('AuthorizeSecurityGroupIngress', 'ModifySecurityGroupRules')
  AND (element_at(requestparameters, 'ipPermissions') LIKE '%0.0.0.0/0%' OR element_at(requestparameters, 'ipPermissions') LIKE '%::/0%'
       OR element_at(requestparameters, 'securityGroupRuleSet') LIKE '%0.0.0.0/0%')
  AND errorcode IS NULL
ORDER BY eventtime
