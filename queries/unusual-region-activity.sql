-- name: unusual-region-activity
-- description: Calls in regions where an account has almost no activity (fewer than $max_events events in the window).
-- tags: security, detection, discovery
-- param: start timestamp = -30d
-- param: end timestamp = now
-- param: max_events integer = 5
WITH per_region AS (
  SELECT recipientaccountid, awsregion, count(*) AS events
  FROM cloudtrail
  WHERE eventtime >= $start AND eventtime < $end AND awsregion <> 'us-east-1'
  GROUP BY 1, 2
)
SELECT e.eventtime, e.recipientaccountid AS account, e.awsregion, e.eventname, e.useridentity.arn AS principal, e.sourceipaddress
FROM cloudtrail e
JOIN per_region r ON e.recipientaccountid = r.recipientaccountid AND e.awsregion = r.awsregion
WHERE e.eventtime >= $start AND e.eventtime < $end AND r.events < $max_events
ORDER BY e.eventtime
