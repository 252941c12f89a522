-- name: iam-policy-changes
-- description: Inline and managed IAM policies created or changed.
-- tags: security, iam
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, eventname, useridentity.arn AS by_principal,
       coalesce(element_at(requestparameters, 'policyName'), element_at(requestparameters, 'policyArn')) AS policy, errorcode
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
  AND eventsource = 'iam.amazonaws.com'
  AND eventname IN ('CreatePolicy', 'CreatePolicyVersion', 'SetDefaultPolicyVersion', 'PutUserPolicy', 'PutRolePolicy', 'PutGroupPolicy', 'UpdateAssumeRolePolicy')
ORDER BY eventtime
