-- name: top-s3-objects
-- description: The S3 objects read most often (data events).
-- tags: data-events, s3
-- param: start timestamp = -7d
-- param: end timestamp = now
SELECT element_at(requestparameters, 'bucketName') AS bucket, element_at(requestparameters, 'key') AS object_key, count(*) AS reads,
       count(DISTINCT useridentity.arn) AS readers
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end AND eventsource = 's3.amazonaws.com' AND eventname = 'GetObject'
GROUP BY 1, 2
ORDER BY reads DESC, bucket, object_key
LIMIT 25
