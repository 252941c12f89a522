-- name: failed-console-logins
-- description: Failed console sign-ins, by source IP and user name.
-- tags: security, detection, iam
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT sourceipaddress,
       coalesce(useridentity.username, element_at(additionaleventdata, 'LoginTo')) AS user_name,
       count(*) AS failures, min(eventtime) AS first_seen, max(eventtime) AS last_seen
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
  AND eventname = 'ConsoleLogin'
  AND element_at(responseelements, 'ConsoleLogin') = 'Failure'
GROUP BY 1, 2
ORDER BY failures DESC, sourceipaddress
