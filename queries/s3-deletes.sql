-- name: s3-deletes
-- description: S3 objects and buckets deleted (data and management events).
-- tags: data-events, s3, impact
-- param: start timestamp = -7d
-- param: end timestamp = now
SELECT eventtime, eventname, element_at(requestparameters, 'bucketName') AS bucket, element_at(requestparameters, 'key') AS object_key,
       useridentity.arn AS principal, sourceipaddress
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end AND eventsource = 's3.amazonaws.com' AND eventname IN ('DeleteObject', 'DeleteObjects', 'DeleteBucket')
ORDER BY eventtime
