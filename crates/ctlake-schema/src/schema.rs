//! The event table's Arrow schema.
//!
//! The columns are CloudTrail Lake's event data store columns with lowercase names, so that the
//! camelCase identifiers users copy from CloudTrail Lake (`eventTime`,
//! `userIdentity.sessionContext.sessionIssuer.arn`) resolve case-insensitively. Every column is
//! the lowercase form of its CloudTrail JSON key (`sourceIPAddress` is `sourceipaddress`,
//! `resources[].ARN` is `resources[].arn`): the decoder relies on that to match keys without a
//! hand-written table, and the test below pins it.
//!
//! Two columns are not in the JSON: `eventjson` keeps the whole record so that nothing the
//! schema does not model is ever lost, and `eventjsonchecksum` is its SHA-256.

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Name of the event time column, which also decides the `date` partition.
pub const EVENT_TIME: &str = "eventtime";
/// Name of the region column, which also decides the `region` partition.
pub const AWS_REGION: &str = "awsregion";
/// Name of the event id column, the deduplication key inside a partition.
pub const EVENT_ID: &str = "eventid";
/// Name of the caller's address column, a common lookup key.
pub const SOURCE_IP: &str = "sourceipaddress";
/// Name of the column that keeps the original record.
pub const EVENT_JSON: &str = "eventjson";
/// Name of the column holding the SHA-256 (lowercase hex) of `eventjson`.
pub const EVENT_JSON_CHECKSUM: &str = "eventjsonchecksum";
/// Name of the region partition column.
pub const PARTITION_REGION: &str = "region";
/// Name of the date partition column.
pub const PARTITION_DATE: &str = "date";

/// The Arrow type of every timestamp in the table: UTC instants without a zone annotation, as
/// CloudTrail Lake's Trino `timestamp` columns are. Microseconds keep every fraction CloudTrail
/// writes and are what Spark and Athena expect.
pub const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn strings(names: &[&str]) -> Vec<Field> {
    names.iter().map(|n| utf8(n)).collect()
}

fn structure(name: &str, fields: Vec<Field>) -> Field {
    Field::new(name, DataType::Struct(Fields::from(fields)), true)
}

/// The `map<string,string>` type used for free-form JSON objects (see [`crate::jsonmap`]).
///
/// The entry names (`entries`, `key`, `value`) are the Parquet and DataFusion conventions, so
/// the column round-trips through Parquet and matches maps built in SQL.
pub fn string_map_type() -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ])),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

fn map(name: &str) -> Field {
    Field::new(name, string_map_type(), true)
}

fn user_identity() -> Field {
    let session_issuer = structure(
        "sessionissuer",
        strings(&["type", "principalid", "arn", "accountid", "username"]),
    );
    let attributes = structure(
        "attributes",
        vec![
            Field::new("creationdate", TIMESTAMP, true),
            utf8("mfaauthenticated"),
        ],
    );
    let web_id = structure(
        "webidfederationdata",
        vec![utf8("federatedprovider"), map("attributes")],
    );
    let session_context = structure(
        "sessioncontext",
        vec![
            attributes,
            session_issuer,
            web_id,
            utf8("sourceidentity"),
            utf8("ec2roledelivery"),
            utf8("ec2issuedinvpc"),
        ],
    );
    let mut fields = strings(&[
        "type",
        "principalid",
        "arn",
        "accountid",
        "accesskeyid",
        "username",
    ]);
    fields.push(session_context);
    fields.push(structure(
        "onbehalfof",
        strings(&["userid", "identitystorearn"]),
    ));
    fields.push(structure(
        "inscopeof",
        strings(&[
            "sourcearn",
            "sourceaccount",
            "issuertype",
            "credentialsissuedto",
        ]),
    ));
    fields.extend(strings(&["invokedby", "identityprovider", "credentialid"]));
    structure("useridentity", fields)
}

fn resources() -> Field {
    let item = Field::new(
        "item",
        DataType::Struct(Fields::from(strings(&[
            "accountid",
            "type",
            "arn",
            "arnprefix",
        ]))),
        true,
    );
    Field::new("resources", DataType::List(Arc::new(item)), true)
}

fn build_event_schema() -> Schema {
    let mut fields = vec![utf8("eventversion"), user_identity()];
    fields.push(Field::new(EVENT_TIME, TIMESTAMP, true));
    fields.extend(strings(&[
        "eventsource",
        "eventname",
        AWS_REGION,
        "sourceipaddress",
        "useragent",
        "errorcode",
        "errormessage",
    ]));
    for name in [
        "requestparameters",
        "responseelements",
        "additionaleventdata",
        "serviceeventdetails",
        "addendum",
        "edgedevicedetails",
        "insightdetails",
    ] {
        fields.push(map(name));
    }
    fields.extend(strings(&["requestid", EVENT_ID]));
    fields.push(Field::new("readonly", DataType::Boolean, true));
    fields.push(resources());
    fields.extend(strings(&["eventtype", "apiversion"]));
    fields.push(Field::new("managementevent", DataType::Boolean, true));
    fields.extend(strings(&[
        "recipientaccountid",
        "sharedeventid",
        "annotation",
        "vpcendpointid",
        "vpcendpointaccountid",
        "eventcategory",
    ]));
    fields.push(structure(
        "tlsdetails",
        strings(&[
            "tlsversion",
            "ciphersuite",
            "clientprovidedhostheader",
            "keyexchange",
        ]),
    ));
    fields.push(utf8("sessioncredentialfromconsole"));
    fields.push(utf8(EVENT_JSON));
    fields.push(utf8(EVENT_JSON_CHECKSUM));
    Schema::new(fields)
}

/// The schema of the rows stored in each Parquet data file (no partition columns: those live in
/// the Hive-style directory names).
pub fn event_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| Arc::new(build_event_schema()))
        .clone()
}

/// The schema of the `cloudtrail` table as a reader sees it: the event columns followed by the
/// partition columns `region` (string) and `date` (date).
pub fn table_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            event_fields_then([
                Field::new(PARTITION_REGION, DataType::Utf8, false),
                Field::new(PARTITION_DATE, DataType::Date32, false),
            ])
        })
        .clone()
}

/// An identity for the data files written from `schema` by the Parquet library `writer` (its
/// name and version, which decide how Arrow types become Parquet ones), recorded in the commit
/// log for each file. Equal identities mean equal Arrow and Parquet schemas, so a reader can
/// read such a file as `schema` without decoding the schema its footer carries (about half of
/// the time it takes to open a footer), and decode one footer's schema for all the files that
/// share it. A file written by another library version or from another schema has another
/// identity, and is read as it declares.
pub fn file_schema_id(schema: &Schema, writer: &str) -> String {
    use sha2::Digest;
    let mut text = String::new();
    text.push_str(writer);
    for field in schema.fields() {
        canonical(field, &mut text);
    }
    let digest = sha2::Sha256::digest(text.as_bytes());
    hex::encode(&digest[..16])
}

/// A field as text that names everything its Parquet form depends on, in one order: `Debug`
/// would print metadata maps in hash order.
fn canonical(field: &Field, out: &mut String) {
    use std::fmt::Write;
    let mut metadata: Vec<_> = field.metadata().iter().collect();
    metadata.sort();
    let _ = write!(
        out,
        "({:?} {} {metadata:?} ",
        field.name(),
        field.is_nullable()
    );
    match field.data_type() {
        DataType::Struct(children) => {
            out.push_str("struct");
            children.iter().for_each(|c| canonical(c, out));
        }
        DataType::List(child) => {
            out.push_str("list");
            canonical(child, out);
        }
        DataType::LargeList(child) => {
            out.push_str("largelist");
            canonical(child, out);
        }
        DataType::FixedSizeList(child, n) => {
            let _ = write!(out, "fixed{n}");
            canonical(child, out);
        }
        DataType::Map(entries, sorted) => {
            let _ = write!(out, "map{sorted}");
            canonical(entries, out);
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
    out.push(')');
}

/// The event columns followed by `extra`.
pub(crate) fn event_fields_then(extra: impl IntoIterator<Item = Field>) -> SchemaRef {
    let mut fields: Vec<Field> = event_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.extend(extra);
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The identity names the schema and the writer, down to a nested field's nullability and
    /// a map's key type, and nothing else: a schema built twice has one identity.
    #[test]
    fn a_file_schema_id_changes_with_any_field_and_with_the_writer() {
        let writer = "parquet-rs version 59.2.0";
        let id = file_schema_id(&build_event_schema(), writer);
        assert_eq!(id.len(), 32);
        assert_eq!(id, file_schema_id(&build_event_schema(), writer));
        assert_ne!(
            id,
            file_schema_id(&build_event_schema(), "parquet-rs version 60.0.0")
        );

        // Each change below, made deep inside the schema, must give another identity.
        let edit = |f: &dyn Fn(&Field) -> Option<Field>| {
            fn walk(field: &Field, f: &dyn Fn(&Field) -> Option<Field>) -> Field {
                if let Some(changed) = f(field) {
                    return changed;
                }
                match field.data_type() {
                    DataType::Struct(children) => field.clone().with_data_type(DataType::Struct(
                        children.iter().map(|c| walk(c, f)).collect(),
                    )),
                    _ => field.clone(),
                }
            }
            let schema = build_event_schema();
            let fields: Vec<Field> = schema.fields().iter().map(|c| walk(c, f)).collect();
            file_schema_id(&Schema::new(fields), writer)
        };
        let nullable = edit(&|f| (f.name() == "arn").then(|| f.clone().with_nullable(false)));
        let renamed = edit(&|f| (f.name() == "arn").then(|| f.clone().with_name("arn2")));
        let retyped = edit(&|f| {
            (f.name() == "requestparameters").then(|| {
                f.clone().with_data_type(DataType::Map(
                    Arc::new(Field::new(
                        "entries",
                        DataType::Struct(Fields::from(vec![
                            Field::new("key", DataType::LargeUtf8, false),
                            Field::new("value", DataType::Utf8, true),
                        ])),
                        false,
                    )),
                    false,
                ))
            })
        });
        let tagged = edit(&|f| {
            (f.name() == "eventtime").then(|| {
                f.clone()
                    .with_metadata([("k".to_string(), "v".to_string())].into_iter().collect())
            })
        });
        let ids = [&id, &nullable, &renamed, &retyped, &tagged];
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "{ids:?}");
    }

    fn collect_names(fields: &Fields, out: &mut Vec<String>) {
        for f in fields {
            out.push(f.name().clone());
            match f.data_type() {
                DataType::Struct(children) => collect_names(children, out),
                DataType::List(item) => {
                    if let DataType::Struct(children) = item.data_type() {
                        collect_names(children, out)
                    }
                }
                _ => {}
            }
        }
    }

    #[test]
    fn every_column_name_is_lowercase() {
        let mut names = Vec::new();
        collect_names(event_schema().fields(), &mut names);
        for n in &names {
            assert_eq!(n, &n.to_ascii_lowercase(), "column {n} is not lowercase");
        }
        // 34 top-level columns: CloudTrail Lake's 32 plus eventjson and its checksum.
        assert_eq!(event_schema().fields().len(), 34);
    }

    #[test]
    fn issue_column_list_is_complete() {
        // The column list of the ingest issue, written out by hand, in order.
        let expected = "eventversion useridentity eventtime eventsource eventname awsregion \
            sourceipaddress useragent errorcode errormessage requestparameters responseelements \
            additionaleventdata serviceeventdetails addendum edgedevicedetails insightdetails \
            requestid eventid readonly resources eventtype apiversion managementevent \
            recipientaccountid sharedeventid annotation vpcendpointid vpcendpointaccountid \
            eventcategory tlsdetails sessioncredentialfromconsole eventjson eventjsonchecksum";
        let schema = event_schema();
        let actual: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(actual, expected.split_whitespace().collect::<Vec<_>>());
    }

    #[test]
    fn nested_paths_exist() {
        let schema = event_schema();
        let ui = schema.field_with_name("useridentity").unwrap();
        let DataType::Struct(f) = ui.data_type() else {
            panic!("useridentity is not a struct")
        };
        let sc = f.find("sessioncontext").unwrap().1;
        let DataType::Struct(f) = sc.data_type() else {
            panic!()
        };
        let si = f.find("sessionissuer").unwrap().1;
        let DataType::Struct(f) = si.data_type() else {
            panic!()
        };
        assert!(f.find("arn").is_some());
        let table = table_schema();
        assert_eq!(
            table.field_with_name("date").unwrap().data_type(),
            &DataType::Date32
        );
    }
}
