//! CloudTrail Event history's lookup (`aws cloudtrail lookup-events`) over the lake: the same
//! attributes, newest first, but several at once (Event history takes one) and over all time.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use datafusion::common::ScalarValue;

use crate::error::{Error, Result};

/// A lookup attribute, as Event history names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    /// `eventid`.
    EventId,
    /// `eventname`.
    EventName,
    /// `readonly` (`true` or `false`).
    ReadOnly,
    /// The user name, or for an assumed role the session name (Event history's "User name").
    Username,
    /// A resource's type, e.g. `AWS::S3::Bucket`.
    ResourceType,
    /// A resource's ARN or name.
    ResourceName,
    /// `eventsource`, e.g. `iam.amazonaws.com`.
    EventSource,
    /// `useridentity.accesskeyid`.
    AccessKeyId,
}

impl Attribute {
    /// Every attribute, with its Event history name.
    pub const ALL: [(&'static str, Attribute); 8] = [
        ("EventId", Self::EventId),
        ("EventName", Self::EventName),
        ("ReadOnly", Self::ReadOnly),
        ("Username", Self::Username),
        ("ResourceType", Self::ResourceType),
        ("ResourceName", Self::ResourceName),
        ("EventSource", Self::EventSource),
        ("AccessKeyId", Self::AccessKeyId),
    ];

    /// Reads an attribute name (case does not matter).
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, a)| *a)
            .ok_or_else(|| Error::Unsupported {
                what: format!(
                    "lookup attribute {name:?}; use one of {}",
                    Self::ALL.map(|(n, _)| n).join(", ")
                ),
            })
    }

    /// The predicate, with the value as parameter `$p`.
    fn predicate(self, p: &str) -> String {
        match self {
            Self::EventId => format!("eventid = ${p}"),
            Self::EventName => format!("eventname = ${p}"),
            Self::ReadOnly => format!("readonly = ${p}"),
            Self::Username => format!("({USERNAME}) = ${p}"),
            Self::ResourceType => format!("any_match(resources, r -> r.type = ${p})"),
            Self::ResourceName => format!(
                "any_match(resources, r -> r.arn = ${p} OR arn_resource_name(r.arn) = ${p})"
            ),
            Self::EventSource => format!("eventsource = ${p}"),
            Self::AccessKeyId => format!("useridentity.accesskeyid = ${p}"),
        }
    }
}

/// Event history's "User name": the IAM user, the session of an assumed role, root, or the
/// service.
pub const USERNAME: &str = "coalesce(useridentity.username, \
     CASE WHEN useridentity.type = 'AssumedRole' THEN arn_resource_name(useridentity.arn) END, \
     principal_name(useridentity))";

/// A lookup: attributes (all must match), a time range and a row limit.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// (attribute, value) pairs.
    pub attributes: Vec<(Attribute, String)>,
    /// Events at or after this time.
    pub from: NaiveDateTime,
    /// Events before this time.
    pub to: NaiveDateTime,
    /// At most this many events, newest first.
    pub max_results: usize,
}

impl Lookup {
    /// The SQL and its parameter values. Values are bound, never pasted into the SQL.
    pub fn sql(&self) -> Result<(String, HashMap<String, ScalarValue>)> {
        let micros = |t: &NaiveDateTime| {
            ScalarValue::TimestampMicrosecond(Some(t.and_utc().timestamp_micros()), None)
        };
        let mut values = HashMap::from([
            ("lookup_from".to_string(), micros(&self.from)),
            ("lookup_to".to_string(), micros(&self.to)),
        ]);
        let mut predicates =
            vec!["eventtime >= $lookup_from AND eventtime < $lookup_to".to_string()];
        for (i, (attribute, value)) in self.attributes.iter().enumerate() {
            let p = format!("a{i}");
            let v = match attribute {
                Attribute::ReadOnly => match value.to_ascii_lowercase().as_str() {
                    "true" => ScalarValue::Boolean(Some(true)),
                    "false" => ScalarValue::Boolean(Some(false)),
                    _ => {
                        return Err(Error::Unsupported {
                            what: format!("ReadOnly={value}: use true or false"),
                        });
                    }
                },
                _ => ScalarValue::Utf8(Some(value.clone())),
            };
            predicates.push(attribute.predicate(&p));
            values.insert(p, v);
        }
        let sql = format!(
            "SELECT eventid, eventname, readonly, useridentity.accesskeyid AS accesskeyid, eventtime, \
             eventsource, {USERNAME} AS username, resources, eventjson \
             FROM cloudtrail WHERE {} ORDER BY eventtime DESC, eventid LIMIT {}",
            predicates.join(" AND "),
            self.max_results
        );
        Ok((sql, values))
    }
}
