-- name: secrets-read
-- description: Secrets Manager secrets and SSM parameters read with decryption, by principal.
-- tags: security, credential-access
-- param: start timestamp = -30d
-- param: end timestamp = now
SELECT useridentity.arn AS principal, eventname,
       coalesce(element_at(requestparameters, 'secretId'), element_at(requestparameters, 'name')) AS secret, count(*) AS reads
FROM cloudtrail
WHERE eventtime >= $start AND eventtime < $end
  AND (eventname = 'GetSecretValue' OR (eventname IN ('GetParameter', 'GetParameters') AND element_at(requestparameters, 'withDecryption') = 'true'))
GROUP BY 1, 2, 3
ORDER BY reads DESC, principal
LIMIT 100
