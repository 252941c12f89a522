-- name: s3-bucket-made-public
-- description: Bucket policies granting Principal *, ACLs granting AllUsers or AuthenticatedUsers, public access blocks removed.
-- tags: security, detection, s3, exfiltration
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT eventtime, eventname, element_at(requestparameters, 'bucketName') AS bucket, useridentity.arn AS by_principal, sourceipaddress
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
  AND eventsource = 's3.amazonaws.com'
  AND ((eventname = 'PutBucketPolicy' AND regexp_like(element_at(requestparameters, 'bucketPolicy'), '"Principal":\{?"?(AWS"?:)?"?\*'))
    OR (eventname = 'PutBucketAcl' AND regexp_like(element_at(requestparameters, 'AccessControlPolicy'), 'AllUsers|AuthenticatedUsers'))
    OR eventname IN ('DeleteBucketPublicAccessBlock', 'DeletePublicAccessBlock'))
  AND errorcode IS NULL
ORDER BY eventtime
