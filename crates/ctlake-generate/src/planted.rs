//! Security scenarios planted in a generated corpus, so that detection queries have known
//! answers. Each scenario is a fixed list of events at fixed times; ids come from a fixed seed.
//!
//! | day | scenario | events |
//! |---|---|---|
//! | 0 | root console login without MFA, from 203.0.113.200 | 1 |
//! | 1 | six failed console logins for `bob` from 203.0.113.66 | 6 |
//! | 1 | `carol` console login without MFA | 1 |
//! | 2 | defence evasion: `StopLogging`, `DeleteDetector`, `StopConfigurationRecorder` | 3 |
//! | 2 | persistence: `CreateUser`, `CreateAccessKey`, `CreateLoginProfile` for `backdoor-user`, `AttachUserPolicy` AdministratorAccess | 4 |
//! | 3 | security group opened to 0.0.0.0/0 on port 22; bucket policy with `"Principal":"*"`; bucket ACL for AllUsers | 3 |
//! | 4 | `ScheduleKeyDeletion`; `DescribeInstanceAttribute` of `userData`; SSM `SendCommand` and `StartSession` | 4 |
//! | 5 | cross-account `AssumeRole` of `OrganizationAccountAccessRole` from the second account | 1 |
//! | 5 | `RunInstances` in `ap-east-1`, a region the organization does not use | 1 |
//! | 6 | twelve `AccessDenied` calls by `ci-deployer` from 203.0.113.66 within ten minutes | 12 |
//!
//! Days past the end of a shorter corpus move to its last day. The planted events all belong
//! to the first account, whose trail delivers them.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::{Ctx, Event, Principal, World, record, upper_id};

/// Number of planted events.
pub const TOTAL: usize = 36;

/// The IP address the planted attacker uses.
pub const ATTACKER_IP: &str = "203.0.113.66";

fn at(start: NaiveDate, days: u32, day: u32, h: u32, m: u32, s: u32) -> NaiveDateTime {
    let day = day.min(days.saturating_sub(1));
    (start + Duration::days(day as i64))
        .and_hms_opt(h, m, s)
        .expect("valid time")
}

/// Every planted event of a corpus starting at `start` and lasting `days`.
pub fn events(world: &World, start: NaiveDate, days: u32) -> Vec<Event> {
    let mut rng = ChaCha8Rng::seed_from_u64(0x91A47);
    let mut out = Vec::with_capacity(TOTAL);
    let a0 = world.accounts[0].clone();
    let home = world.regions[0];
    let mut push = |rng: &mut ChaCha8Rng,
                    time: NaiveDateTime,
                    region: &'static str,
                    who: Principal,
                    source: &str,
                    name: &str,
                    read_only: bool,
                    extra: Value| {
        let ctx = Ctx {
            world,
            account: 0,
            region: 0,
            time,
        };
        let mut r = record(rng, &ctx, &who, source, name, read_only, extra);
        if let Value::Object(m) = &mut r {
            m.insert("awsRegion".into(), json!(region));
        }
        out.push(Event {
            account: 0,
            region,
            time,
            record: r,
        });
    };

    // Day 0: root console login without MFA.
    push(
        &mut rng,
        at(start, days, 0, 10, 15, 0),
        "us-east-1",
        Principal::Root,
        "signin.amazonaws.com",
        "ConsoleLogin",
        false,
        json!({
            "sourceIPAddress": "203.0.113.200",
            "responseElements": {"ConsoleLogin": "Success"},
            "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "No"},
            "eventType": "AwsConsoleSignIn", "-readOnly": null, "-tlsDetails": null
        }),
    );
    // Day 1: failed console logins, then carol without MFA.
    for i in 0..6 {
        push(
            &mut rng,
            at(start, days, 1, 2, i, 7),
            "us-east-1",
            Principal::User(1),
            "signin.amazonaws.com",
            "ConsoleLogin",
            false,
            json!({
                "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLEBOB000001", "accountId": a0, "accessKeyId": "", "userName": "bob"},
                "sourceIPAddress": ATTACKER_IP,
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
                "errorMessage": "Failed authentication",
                "responseElements": {"ConsoleLogin": "Failure"},
                "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "No"},
                "eventType": "AwsConsoleSignIn", "-readOnly": null, "-tlsDetails": null
            }),
        );
    }
    push(
        &mut rng,
        at(start, days, 1, 9, 0, 0),
        "us-east-1",
        Principal::User(2),
        "signin.amazonaws.com",
        "ConsoleLogin",
        false,
        json!({
            "responseElements": {"ConsoleLogin": "Success"},
            "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "No"},
            "eventType": "AwsConsoleSignIn", "-readOnly": null, "-tlsDetails": null
        }),
    );
    // Day 2: defence evasion and persistence by a stolen Admin session.
    let admin = || Principal::Role("Admin", "bob".to_string());
    let trail = format!("arn:aws:cloudtrail:{home}:{a0}:trail/org-trail");
    push(
        &mut rng,
        at(start, days, 2, 3, 10, 0),
        home,
        admin(),
        "cloudtrail.amazonaws.com",
        "StopLogging",
        false,
        json!({
            "sourceIPAddress": ATTACKER_IP, "requestParameters": {"name": trail}
        }),
    );
    push(
        &mut rng,
        at(start, days, 2, 3, 12, 0),
        home,
        admin(),
        "guardduty.amazonaws.com",
        "DeleteDetector",
        false,
        json!({
            "sourceIPAddress": ATTACKER_IP, "requestParameters": {"detectorId": "12abc34d567e8fa901bc2d34e56789f0"}
        }),
    );
    push(
        &mut rng,
        at(start, days, 2, 3, 13, 0),
        home,
        admin(),
        "config.amazonaws.com",
        "StopConfigurationRecorder",
        false,
        json!({
            "sourceIPAddress": ATTACKER_IP, "requestParameters": {"configurationRecorderName": "default"}
        }),
    );
    push(
        &mut rng,
        at(start, days, 2, 3, 20, 0),
        "us-east-1",
        admin(),
        "iam.amazonaws.com",
        "CreateUser",
        false,
        json!({
            "sourceIPAddress": ATTACKER_IP,
            "requestParameters": {"userName": "backdoor-user"},
            "responseElements": {"user": {"path": "/", "userName": "backdoor-user", "userId": "AIDAEXAMPLEBACKDOOR1", "arn": format!("arn:aws:iam::{a0}:user/backdoor-user"), "createDate": "Nov 3, 2026, 3:20:00 AM"}}
        }),
    );
    let key = upper_id(&mut rng, "AKIA", 16);
    push(
        &mut rng,
        at(start, days, 2, 3, 21, 0),
        "us-east-1",
        admin(),
        "iam.amazonaws.com",
        "CreateAccessKey",
        false,
        json!({
            "sourceIPAddress": ATTACKER_IP,
            "requestParameters": {"userName": "backdoor-user"},
            "responseElements": {"accessKey": {"userName": "backdoor-user", "accessKeyId": key, "status": "Active", "createDate": "Nov 3, 2026, 3:21:00 AM"}}
        }),
    );
    push(
        &mut rng,
        at(start, days, 2, 3, 21, 30),
        "us-east-1",
        admin(),
        "iam.amazonaws.com",
        "CreateLoginProfile",
        false,
        json!({
            "sourceIPAddress": ATTACKER_IP,
            "requestParameters": {"userName": "backdoor-user", "passwordResetRequired": false}
        }),
    );
    push(
        &mut rng,
        at(start, days, 2, 3, 22, 0),
        "us-east-1",
        admin(),
        "iam.amazonaws.com",
        "AttachUserPolicy",
        false,
        json!({
            "sourceIPAddress": ATTACKER_IP,
            "requestParameters": {"userName": "backdoor-user", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
        }),
    );
    // Day 3: exposure.
    push(
        &mut rng,
        at(start, days, 3, 11, 0, 0),
        home,
        admin(),
        "ec2.amazonaws.com",
        "AuthorizeSecurityGroupIngress",
        false,
        json!({
            "requestParameters": {"groupId": "sg-0123456789abcdef0", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}},
            "responseElements": {"requestId": "5e4c8d2a-0000-4000-8000-000000000001", "_return": true}
        }),
    );
    let bucket = format!("backups-{}", &a0[..4]);
    let policy = format!(
        "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::{bucket}/*\"}}]}}"
    );
    push(
        &mut rng,
        at(start, days, 3, 11, 30, 0),
        home,
        admin(),
        "s3.amazonaws.com",
        "PutBucketPolicy",
        false,
        json!({
            "requestParameters": {"bucketName": bucket, "Host": format!("{bucket}.s3.amazonaws.com"), "policy": "", "bucketPolicy": serde_json::from_str::<Value>(&policy).unwrap_or(Value::Null)},
            "resources": [{"accountId": a0, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}]
        }),
    );
    push(
        &mut rng,
        at(start, days, 3, 11, 35, 0),
        home,
        admin(),
        "s3.amazonaws.com",
        "PutBucketAcl",
        false,
        json!({
            "requestParameters": {"bucketName": bucket, "Host": format!("{bucket}.s3.amazonaws.com"), "acl": "", "AccessControlPolicy": {"AccessControlList": {"Grant": [{"Grantee": {"xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]}}},
            "resources": [{"accountId": a0, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}]
        }),
    );
    // Day 4: destruction and execution.
    push(
        &mut rng,
        at(start, days, 4, 14, 0, 0),
        home,
        admin(),
        "kms.amazonaws.com",
        "ScheduleKeyDeletion",
        false,
        json!({
            "requestParameters": {"keyId": format!("arn:aws:kms:{home}:{a0}:key/1234abcd-12ab-34cd-56ef-1234567890ab"), "pendingWindowInDays": 7},
            "responseElements": {"keyId": format!("arn:aws:kms:{home}:{a0}:key/1234abcd-12ab-34cd-56ef-1234567890ab"), "keyState": "PendingDeletion"}
        }),
    );
    push(
        &mut rng,
        at(start, days, 4, 14, 30, 0),
        home,
        admin(),
        "ec2.amazonaws.com",
        "DescribeInstanceAttribute",
        true,
        json!({
            "requestParameters": {"instanceId": "i-0a1b2c3d4e5f60718", "attribute": "userData"}
        }),
    );
    push(
        &mut rng,
        at(start, days, 4, 15, 0, 0),
        home,
        admin(),
        "ssm.amazonaws.com",
        "SendCommand",
        false,
        json!({
            "requestParameters": {"documentName": "AWS-RunShellScript", "instanceIds": ["i-0a1b2c3d4e5f60718"], "parameters": "HIDDEN_DUE_TO_SECURITY_REASONS", "interactive": false}
        }),
    );
    push(
        &mut rng,
        at(start, days, 4, 15, 5, 0),
        home,
        admin(),
        "ssm.amazonaws.com",
        "StartSession",
        false,
        json!({
            "requestParameters": {"target": "i-0a1b2c3d4e5f60718"},
            "responseElements": {"sessionId": "bob-0123456789abcdef0", "tokenValue": "Value hidden due to security reasons.", "streamUrl": "wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/bob-0123456789abcdef0"}
        }),
    );
    // Day 5: cross-account access and an unused region.
    let other = world
        .accounts
        .get(1)
        .cloned()
        .unwrap_or_else(|| "999988887777".to_string());
    push(
        &mut rng,
        at(start, days, 5, 16, 0, 0),
        "us-east-1",
        Principal::Role("Admin", "alice".into()),
        "sts.amazonaws.com",
        "AssumeRole",
        true,
        json!({
            "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLEOTHER0001:alice", "arn": format!("arn:aws:sts::{other}:assumed-role/Admin/alice"), "accountId": other, "accessKeyId": "ASIAEXAMPLEOTHER0001"},
            "requestParameters": {"roleArn": format!("arn:aws:iam::{a0}:role/OrganizationAccountAccessRole"), "roleSessionName": "alice", "durationSeconds": 3600},
            "resources": [{"accountId": a0, "type": "AWS::IAM::Role", "ARN": format!("arn:aws:iam::{a0}:role/OrganizationAccountAccessRole")}],
            "sharedEventID": "0f6e2a55-1111-4222-8333-444455556666"
        }),
    );
    push(
        &mut rng,
        at(start, days, 5, 16, 30, 0),
        "ap-east-1",
        admin(),
        "ec2.amazonaws.com",
        "RunInstances",
        false,
        json!({
            "sourceIPAddress": ATTACKER_IP,
            "requestParameters": {"instancesSet": {"items": [{"imageId": "ami-0ffffffffffffffff", "minCount": 8, "maxCount": 8}]}, "instanceType": "p4d.24xlarge"},
            "responseElements": {"instancesSet": {"items": [{"instanceId": "i-0deadbeefdeadbeef", "instanceType": "p4d.24xlarge"}]}}
        }),
    );
    // Day 6: an AccessDenied burst.
    let calls = [
        ("iam.amazonaws.com", "ListUsers"),
        ("s3.amazonaws.com", "ListBuckets"),
        ("secretsmanager.amazonaws.com", "ListSecrets"),
        ("ec2.amazonaws.com", "DescribeInstances"),
    ];
    for i in 0..12u32 {
        let (source, name) = calls[i as usize % calls.len()];
        push(
            &mut rng,
            at(start, days, 6, 1, i * 50 / 60, i * 50 % 60),
            home,
            Principal::User(4),
            source,
            name,
            true,
            json!({
                "sourceIPAddress": ATTACKER_IP,
                "errorCode": "AccessDenied",
                "errorMessage": format!("User: arn:aws:iam::{a0}:user/ci-deployer is not authorized to perform: {name}")
            }),
        );
    }
    debug_assert_eq!(out.len(), TOTAL);
    out
}
