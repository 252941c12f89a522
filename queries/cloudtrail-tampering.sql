-- name: cloudtrail-tampering
-- description: Trails stopped, deleted or changed, and event selectors replaced.
-- tags: security, detection, defence-evasion
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, eventname, useridentity.arn AS principal, sourceipaddress,
       coalesce(element_at(requestparameters, 'name'), element_at(requestparameters, 'trailName')) AS trail, errorcode
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
  AND eventsource = 'cloudtrail.amazonaws.com'
  AND eventname IN ('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors', 'PutInsightSelectors')
ORDER BY eventtime
