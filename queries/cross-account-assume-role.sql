-- name: cross-account-assume-role
-- description: Roles assumed by principals of another AWS account.
-- tags: security, detection, lateral-movement, iam
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, useridentity.accountid AS from_account, recipientaccountid AS into_account,
       useridentity.arn AS principal, element_at(requestparameters, 'roleArn') AS role, sourceipaddress
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
  AND eventname = 'AssumeRole'
  AND useridentity.type IN ('IAMUser', 'AssumedRole', 'Root', 'FederatedUser')
  AND useridentity.accountid <> recipientaccountid
ORDER BY eventtime
