-- name: admin-policy-attached
-- description: AdministratorAccess (or any *Admin* managed policy) attached to a user, role or group.
-- tags: security, detection, privilege-escalation, iam
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, eventname,
       coalesce(element_at(requestparameters, 'userName'), element_at(requestparameters, 'roleName'), element_at(requestparameters, 'groupName')) AS target,
       element_at(requestparameters, 'policyArn') AS policy, useridentity.arn AS by_principal, errorcode
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
  AND eventsource = 'iam.amazonaws.com'
  AND eventname IN ('AttachUserPolicy', 'AttachRolePolicy', 'AttachGroupPolicy')
  AND lower(element_at(requestparameters, 'policyArn')) LIKE '%admin%'
ORDER BY eventtime
