-- name: console-logins-without-mfa
-- description: Successful AWS console sign-ins that did not use MFA.
-- tags: security, detection, iam
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, useridentity.arn AS principal, sourceipaddress, useragent
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
  AND eventname = 'ConsoleLogin'
  AND element_at(additionaleventdata, 'MFAUsed') = 'No'
  AND element_at(responseelements, 'ConsoleLogin') = 'Success'
ORDER BY eventtime
