//! ARN helpers and the principal's display name: every CloudTrail question ends up splitting
//! `arn:partition:service:region:account:resource` or asking "who, in words" of a `useridentity`.

use std::sync::Arc;

use arrow::array::{Array, StringArray, StringBuilder, StructArray};
use datafusion::common::Result;
use datafusion::common::cast::{as_string_array, as_struct_array};
use datafusion::logical_expr::ColumnarValue;

use super::array;

/// A part of an ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Part {
    Partition,
    Service,
    Region,
    Account,
    /// Everything after the account: `role/Admin`, `bucket/key`, `function:name`.
    Resource,
    /// The resource's type prefix: `role` of `role/Admin`, `function` of `function:name`.
    ResourceType,
    /// The resource's last `/` or `:` segment: `Admin` of `role/path/Admin`.
    ResourceName,
}

/// The part of `arn`, or `None` when it is not an ARN or the part is empty.
pub(crate) fn arn_part(arn: &str, part: Part) -> Option<&str> {
    let mut fields = arn.splitn(6, ':');
    if fields.next() != Some("arn") {
        return None;
    }
    let partition = fields.next()?;
    let service = fields.next()?;
    let region = fields.next()?;
    let account = fields.next()?;
    let resource = fields.next()?;
    let value = match part {
        Part::Partition => partition,
        Part::Service => service,
        Part::Region => region,
        Part::Account => account,
        Part::Resource => resource,
        Part::ResourceType => match resource.find(['/', ':']) {
            Some(i) => &resource[..i],
            None => return None,
        },
        Part::ResourceName => match resource.rfind(['/', ':']) {
            Some(i) => &resource[i + 1..],
            None => resource,
        },
    };
    (!value.is_empty()).then_some(value)
}

pub(super) fn part(args: &[ColumnarValue], rows: usize, part: Part) -> Result<ColumnarValue> {
    let input = array(&args[0], rows)?;
    let input = as_string_array(&input)?;
    let out: StringArray = input.iter().map(|a| arn_part(a?, part)).collect();
    Ok(ColumnarValue::Array(Arc::new(out)))
}

fn child<'a>(s: &'a StructArray, name: &str) -> Option<&'a StructArray> {
    s.column_by_name(name)?.as_any().downcast_ref()
}

fn text<'a>(s: Option<&'a StructArray>, name: &str, row: usize) -> Option<&'a str> {
    let column = s?.column_by_name(name)?;
    let strings = column.as_any().downcast_ref::<StringArray>()?;
    (strings.is_valid(row) && !strings.value(row).is_empty()).then(|| strings.value(row))
}

/// Who acted, in words: the IAM user's name, the role of an assumed role (not the session),
/// `root`, the AWS service, the federated or Identity Center user.
pub(super) fn principal_name(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let input = array(&args[0], rows)?;
    let identity = as_struct_array(&input)?;
    let issuer = child(identity, "sessioncontext").and_then(|c| child(c, "sessionissuer"));
    let on_behalf = child(identity, "onbehalfof");
    let mut out = StringBuilder::with_capacity(rows, rows * 12);
    for row in 0..rows {
        if identity.is_null(row) {
            out.append_null();
            continue;
        }
        let field = |name| text(Some(identity), name, row);
        let arn_name = || field("arn").and_then(|a| arn_part(a, Part::Resource));
        let name = match field("type") {
            Some("Root") => Some("root"),
            Some("IAMUser") => field("username").or_else(arn_name),
            Some("AssumedRole") => text(issuer, "username", row).or_else(|| {
                // assumed-role/<role>/<session>
                arn_name().and_then(|r| r.split('/').nth(1))
            }),
            Some("FederatedUser") => text(issuer, "username", row)
                .or_else(|| arn_name().and_then(|r| r.split('/').nth(1))),
            Some("AWSService") => field("invokedby"),
            Some("AWSAccount") => field("accountid").or_else(|| field("principalid")),
            Some("IdentityCenterUser") => {
                text(on_behalf, "userid", row).or_else(|| field("username"))
            }
            _ => None,
        };
        let name = name
            .or_else(|| field("username"))
            .or_else(|| field("invokedby"))
            .or_else(|| field("principalid"));
        out.append_option(name);
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}
