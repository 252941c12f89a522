-- name: s3-reads-by-principal
-- description: Who reads S3 data, and how much.
-- tags: data-events, s3
-- param: start timestamp = -7d
-- param: end timestamp = now
SELECT principal_name(useridentity) AS principal, element_at(requestparameters, 'bucketName') AS bucket, count(*) AS reads,
       sum(TRY_CAST(element_at(additionaleventdata, 'bytesTransferredOut') AS DOUBLE)) AS bytes_out
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end AND eventsource = 's3.amazonaws.com' AND eventname IN ('GetObject', 'HeadObject')
GROUP BY 1, 2
ORDER BY reads DESC, principal, bucket
LIMIT 25
