//! The everyday calls of a generated organization, with their real shapes.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::{Ctx, Principal, upper_id, uuid};

const BUCKETS: [&str; 4] = ["app-assets", "data-lake-raw", "backups", "build-artifacts"];

fn bucket(rng: &mut ChaCha8Rng, ctx: &Ctx<'_>) -> String {
    format!(
        "{}-{}",
        BUCKETS[rng.random_range(0..BUCKETS.len())],
        &ctx.account()[..4]
    )
}

fn human(rng: &mut ChaCha8Rng) -> Principal {
    match rng.random_range(0..10) {
        0..=3 => Principal::User(rng.random_range(0..5)),
        4..=6 => Principal::Role(
            "Admin",
            ["alice", "bob", "dave"][rng.random_range(0..3)].to_string(),
        ),
        _ => Principal::Role("ReadOnly", "dave".to_string()),
    }
}

fn machine(rng: &mut ChaCha8Rng) -> Principal {
    Principal::Role("lambda-exec", format!("orders-{}", rng.random_range(0..4)))
}

/// A random everyday event.
pub fn random(rng: &mut ChaCha8Rng, ctx: &Ctx<'_>) -> Value {
    let roll = rng.random_range(0..100);
    let mut r = match roll {
        0..=14 => s3_object(rng, ctx),
        15..=24 => kms(rng, ctx),
        25..=34 => describe_instances(rng, ctx),
        35..=42 => {
            let who = human(rng);
            rec!(
                rng,
                ctx,
                &who,
                "sts.amazonaws.com",
                "GetCallerIdentity",
                true,
                json!({})
            )
        }
        43..=50 => assume_role(rng, ctx),
        51..=56 => {
            let who = human(rng);
            rec!(
                rng,
                ctx,
                &who,
                "s3.amazonaws.com",
                "ListBuckets",
                true,
                json!({
                    "requestParameters": {"Host": "s3.amazonaws.com"},
                    "additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader", "x-amz-id-2": upper_id(rng, "", 40), "bytesTransferredOut": rng.random_range(300..4000)}
                })
            )
        }
        57..=62 => {
            let who = human(rng);
            let name = [
                "ListUsers",
                "ListRoles",
                "GetUser",
                "ListAttachedRolePolicies",
            ][rng.random_range(0..4)];
            rec!(
                rng,
                ctx,
                &who,
                "iam.amazonaws.com",
                name,
                true,
                json!({
                    "awsRegion": "us-east-1",
                    "requestParameters": if rng.random_bool(0.5) { json!({"maxItems": 100}) } else { Value::Null }
                })
            )
        }
        63..=67 => console_login(rng, ctx),
        68..=72 => {
            let who = machine(rng);
            let table = format!("orders-{}", rng.random_range(0..3));
            rec!(
                rng,
                ctx,
                &who,
                "dynamodb.amazonaws.com",
                "DescribeTable",
                true,
                json!({
                    "requestParameters": {"tableName": table},
                    "resources": [{"accountId": ctx.account(), "type": "AWS::DynamoDB::Table", "ARN": format!("arn:aws:dynamodb:{}:{}:table/{table}", ctx.region(), ctx.account())}]
                })
            )
        }
        73..=77 => {
            let who = machine(rng);
            rec!(
                rng,
                ctx,
                &who,
                "ssm.amazonaws.com",
                "GetParameter",
                true,
                json!({
                    "requestParameters": {"name": format!("/app/{}/db-password", ["orders", "billing"][rng.random_range(0..2)]), "withDecryption": true}
                })
            )
        }
        78..=81 => lambda_invoke(rng, ctx),
        82..=85 => {
            let who = human(rng);
            rec!(
                rng,
                ctx,
                &who,
                "ec2.amazonaws.com",
                "DescribeSecurityGroups",
                true,
                json!({
                    "requestParameters": {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}
                })
            )
        }
        86..=88 => run_instances(rng, ctx),
        89..=91 => {
            let who = human(rng);
            rec!(
                rng,
                ctx,
                &who,
                "logs.amazonaws.com",
                "DescribeLogGroups",
                true,
                json!({
                    // Older event version without eventCategory, as early trails wrote.
                    "eventVersion": "1.05",
                    "-eventCategory": null,
                    "requestParameters": {"limit": 50}
                })
            )
        }
        92..=94 => {
            let who = machine(rng);
            rec!(
                rng,
                ctx,
                &who,
                "sqs.amazonaws.com",
                "ReceiveMessage",
                false,
                json!({
                    "requestParameters": {"queueUrl": format!("https://sqs.{}.amazonaws.com/{}/orders", ctx.region(), ctx.account()), "maxNumberOfMessages": 10, "waitTimeSeconds": 20}
                })
            )
        }
        _ => {
            let who = human(rng);
            rec!(
                rng,
                ctx,
                &who,
                "cloudtrail.amazonaws.com",
                "LookupEvents",
                true,
                json!({
                    "requestParameters": {"maxResults": 50, "lookupAttributes": [{"attributeKey": "EventName", "attributeValue": "ConsoleLogin"}]}
                })
            )
        }
    };
    // Errors: AccessDenied on a few writes and reads, throttling on chatty reads.
    if rng.random_bool(0.04)
        && let Value::Object(m) = &mut r
    {
        let name = m
            .get("eventName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if name != "ConsoleLogin" {
            let arn = m
                .get("userIdentity")
                .and_then(|u| u.get("arn"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if rng.random_bool(0.8) {
                m.insert("errorCode".into(), json!("AccessDenied"));
                m.insert("errorMessage".into(), json!(format!("User: {arn} is not authorized to perform: {name} because no identity-based policy allows the action")));
            } else {
                m.insert("errorCode".into(), json!("ThrottlingException"));
                m.insert("errorMessage".into(), json!("Rate exceeded"));
            }
            m.insert("responseElements".into(), Value::Null);
        }
    }
    r
}

fn s3_object(rng: &mut ChaCha8Rng, ctx: &Ctx<'_>) -> Value {
    let (name, read_only) = match rng.random_range(0..10) {
        0..=5 => ("GetObject", true),
        6..=8 => ("PutObject", false),
        _ => ("DeleteObject", false),
    };
    let b = bucket(rng, ctx);
    let key = format!(
        "{}/{:04}/part-{:05}.parquet",
        ["orders", "events", "images"][rng.random_range(0..3)],
        rng.random_range(2024..2027),
        rng.random_range(0..300)
    );
    let who = if rng.random_bool(0.6) {
        machine(rng)
    } else {
        human(rng)
    };
    let out_bytes = if name == "GetObject" {
        rng.random_range(1_000..5_000_000)
    } else {
        0
    };
    let in_bytes = if name == "PutObject" {
        json!(rng.random_range(1_000..5_000_000))
    } else {
        json!(0.0)
    };
    rec!(
        rng,
        ctx,
        &who,
        "s3.amazonaws.com",
        name,
        read_only,
        json!({
            "requestParameters": {"bucketName": b, "Host": format!("{b}.s3.{}.amazonaws.com", ctx.region()), "key": key},
            "additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": in_bytes, "AuthenticationMethod": "AuthHeader", "x-amz-id-2": upper_id(rng, "", 52), "bytesTransferredOut": out_bytes},
            "resources": [
                {"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{b}/{key}")},
                {"accountId": ctx.account(), "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{b}")}
            ],
            "eventType": "AwsApiCall",
            "managementEvent": false,
            "eventCategory": "Data",
            "sharedEventID": if rng.random_bool(0.1) { json!(uuid(rng)) } else { Value::Null }
        })
    )
}

fn kms(rng: &mut ChaCha8Rng, ctx: &Ctx<'_>) -> Value {
    let svc = [
        "s3.amazonaws.com",
        "secretsmanager.amazonaws.com",
        "lambda.amazonaws.com",
    ][rng.random_range(0..3)];
    let name = if rng.random_bool(0.7) {
        "Decrypt"
    } else {
        "GenerateDataKey"
    };
    let key_id = uuid(rng);
    rec!(
        rng,
        ctx,
        &Principal::Service(svc),
        "kms.amazonaws.com",
        name,
        true,
        json!({
            "requestParameters": {"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {"aws:s3:arn": format!("arn:aws:s3:::{}", bucket(rng, ctx))}},
            "resources": [{"accountId": ctx.account(), "type": "AWS::KMS::Key", "ARN": format!("arn:aws:kms:{}:{}:key/{key_id}", ctx.region(), ctx.account())}],
            "eventType": "AwsServiceEvent",
            "-tlsDetails": null
        })
    )
}

fn describe_instances(rng: &mut ChaCha8Rng, ctx: &Ctx<'_>) -> Value {
    let who = if rng.random_bool(0.5) {
        human(rng)
    } else {
        Principal::Role("terraform", "ci".into())
    };
    // `maxResults` is a number in some records and a string in others, as in real logs.
    let max = if rng.random_bool(0.5) {
        json!(1000)
    } else {
        json!("1000")
    };
    rec!(
        rng,
        ctx,
        &who,
        "ec2.amazonaws.com",
        "DescribeInstances",
        true,
        json!({
            "requestParameters": {"instancesSet": {}, "filterSet": {}, "maxResults": max}
        })
    )
}

fn assume_role(rng: &mut ChaCha8Rng, ctx: &Ctx<'_>) -> Value {
    let who = Principal::Service("lambda.amazonaws.com");
    let role = "lambda-exec";
    let session = format!("orders-{}", rng.random_range(0..4));
    let key = upper_id(rng, "ASIA", 16);
    rec!(
        rng,
        ctx,
        &who,
        "sts.amazonaws.com",
        "AssumeRole",
        true,
        json!({
            "requestParameters": {"roleArn": format!("arn:aws:iam::{}:role/{role}", ctx.account()), "roleSessionName": session, "durationSeconds": 3600},
            "responseElements": {
                "credentials": {"accessKeyId": key, "sessionToken": upper_id(rng, "IQoJb3JpZ2luX2Vj", 60), "expiration": "Dec 1, 2026, 1:00:00 AM"},
                "assumedRoleUser": {"assumedRoleId": format!("{}:{session}", upper_id(rng, "AROA", 17)), "arn": format!("arn:aws:sts::{}:assumed-role/{role}/{session}", ctx.account())}
            },
            "resources": [{"accountId": ctx.account(), "type": "AWS::IAM::Role", "ARN": format!("arn:aws:iam::{}:role/{role}", ctx.account())}],
            "eventType": "AwsApiCall",
            "sharedEventID": uuid(rng),
            "-tlsDetails": null
        })
    )
}

fn console_login(rng: &mut ChaCha8Rng, ctx: &Ctx<'_>) -> Value {
    let u = [0usize, 1, 3][rng.random_range(0..3)];
    let who = Principal::User(u);
    rec!(
        rng,
        ctx,
        &who,
        "signin.amazonaws.com",
        "ConsoleLogin",
        false,
        json!({
            "awsRegion": "us-east-1",
            "requestParameters": null,
            "responseElements": {"ConsoleLogin": "Success"},
            "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "Yes"},
            "eventType": "AwsConsoleSignIn",
            "-readOnly": null,
            "-tlsDetails": null
        })
    )
}

fn lambda_invoke(rng: &mut ChaCha8Rng, ctx: &Ctx<'_>) -> Value {
    let f = format!("orders-{}", rng.random_range(0..4));
    let who = Principal::Role("api-gateway-invoke", "apigw".into());
    rec!(
        rng,
        ctx,
        &who,
        "lambda.amazonaws.com",
        "Invoke",
        false,
        json!({
            "requestParameters": {"functionName": format!("arn:aws:lambda:{}:{}:function:{f}", ctx.region(), ctx.account()), "sourceArn": format!("arn:aws:execute-api:{}:{}:abc123/prod/POST/orders", ctx.region(), ctx.account())},
            "additionalEventData": {"functionVersion": format!("arn:aws:lambda:{}:{}:function:{f}:$LATEST", ctx.region(), ctx.account())},
            "resources": [{"accountId": ctx.account(), "type": "AWS::Lambda::Function", "ARN": format!("arn:aws:lambda:{}:{}:function:{f}", ctx.region(), ctx.account())}],
            "managementEvent": false,
            "eventCategory": "Data",
            "readOnly": false
        })
    )
}

fn run_instances(rng: &mut ChaCha8Rng, ctx: &Ctx<'_>) -> Value {
    let who = Principal::Role("terraform", "ci".into());
    let instance = format!("i-0{}", &uuid(rng).replace('-', "")[..16]);
    rec!(
        rng,
        ctx,
        &who,
        "ec2.amazonaws.com",
        "RunInstances",
        false,
        json!({
            "requestParameters": {"instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890", "minCount": 1, "maxCount": 1}]}, "instanceType": "t3.micro", "monitoring": {"enabled": false}, "disableApiTermination": false},
            "responseElements": {"requestId": uuid(rng), "reservationId": format!("r-0{}", &uuid(rng).replace('-', "")[..16]), "ownerId": ctx.account(), "instancesSet": {"items": [{"instanceId": instance, "imageId": "ami-0abcdef1234567890", "instanceState": {"code": 0, "name": "pending"}, "instanceType": "t3.micro"}]}}
        })
    )
}
