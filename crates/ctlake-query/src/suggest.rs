//! "Did you mean": the nearest real column or field for a name that does not exist, because
//! CloudTrail's JSON keys (`eventName`, `userIdentity.sessionContext`) are easy to misremember
//! as `event_name` or `user_identity`.

use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;

use arrow::datatypes::{DataType, Field};

use crate::error::Error;

/// Every column and nested struct path of the table, e.g.
/// `useridentity.sessioncontext.sessionissuer.arn`.
pub fn column_paths() -> Vec<String> {
    columns().into_iter().map(|(path, _)| path).collect()
}

/// Every column and nested struct path with its type, structs before their fields.
pub fn columns() -> Vec<(String, DataType)> {
    fn walk(prefix: &str, field: &Field, out: &mut Vec<(String, DataType)>) {
        let path = if prefix.is_empty() {
            field.name().clone()
        } else {
            format!("{prefix}.{}", field.name())
        };
        out.push((path.clone(), field.data_type().clone()));
        if let DataType::Struct(children) = field.data_type() {
            for c in children {
                walk(&path, c, out);
            }
        }
    }
    let mut out = Vec::new();
    for f in ctlake_schema::table_schema().fields() {
        walk("", f, &mut out);
    }
    out
}

/// The paths of the table's `map<string,string>` columns, nested ones included
/// (`useridentity.sessioncontext.attributes`).
pub fn map_paths() -> Vec<String> {
    columns()
        .into_iter()
        .filter(|(_, t)| matches!(t, DataType::Map(..)))
        .map(|(p, _)| p)
        .collect()
}

/// The candidate nearest to `name`, if near enough to be what was meant.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let squash = |s: &str| s.to_lowercase().replace(['_', '-', ' '], "");
    let wanted = squash(name);
    let (best, distance) = candidates
        .into_iter()
        .map(|c| (c, strsim::damerau_levenshtein(&wanted, &squash(c))))
        .min_by_key(|&(c, d)| (d, c.len()))?;
    (distance <= (wanted.len() / 3).max(2)).then(|| best.to_string())
}

/// A planning error, turned into an unknown-column error with a suggestion where it is one.
pub fn explain(e: DataFusionError) -> Error {
    match e.find_root() {
        DataFusionError::SchemaError(inner, _) => {
            if let SchemaError::FieldNotFound {
                field,
                valid_fields,
            } = inner.as_ref()
            {
                let names: Vec<&str> = valid_fields.iter().map(|c| c.name.as_str()).collect();
                return Error::UnknownColumn {
                    name: field.name.clone(),
                    suggestion: nearest(&field.name, names),
                };
            }
        }
        DataFusionError::Plan(message) => {
            if let Some(name) = message
                .strip_prefix("Field ")
                .and_then(|m| m.strip_suffix(" not found in struct"))
            {
                let paths = column_paths();
                let leaves: Vec<&str> = paths
                    .iter()
                    .map(|p| p.rsplit('.').next().unwrap_or(p))
                    .collect();
                return Error::UnknownColumn {
                    name: name.to_string(),
                    suggestion: nearest(name, leaves),
                };
            }
        }
        _ => {}
    }
    Error::DataFusion(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_real_name() {
        let paths = column_paths();
        let names = || paths.iter().map(String::as_str);
        assert_eq!(nearest("event_name", names()).as_deref(), Some("eventname"));
        assert_eq!(
            nearest("sourceIPAddres", names()).as_deref(),
            Some("sourceipaddress")
        );
        assert_eq!(nearest("zzzz", names()), None);
        assert!(paths.contains(&"useridentity.sessioncontext.sessionissuer.arn".to_string()));
    }
}
