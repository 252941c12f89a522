-- name: insights
-- description: CloudTrail Insights that started in the window (computed by `ctlake insights`, or delivered by the trail): unusual rates of write calls or of errors, against the API's own baseline.
-- tags: security, insights
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT s.eventtime AS started, e.eventtime AS ended, s.insightdetails.insighttype AS insight_type,
       s.recipientaccountid AS account, s.awsregion AS region, s.insightdetails.eventsource AS event_source,
       s.insightdetails.eventname AS event_name, s.insightdetails.errorcode AS error_code,
       s.insightdetails.insightcontext.statistics.baseline.average AS baseline_per_minute,
       s.insightdetails.insightcontext.statistics.insight.average AS insight_per_minute
FROM insights s LEFT JOIN insights e ON e.sharedeventid = s.sharedeventid AND e.insightdetails.state = 'End'
WHERE s.insightdetails.state = 'Start' AND s.eventtime >= $start AND s.eventtime < $end
ORDER BY s.eventtime, event_name
