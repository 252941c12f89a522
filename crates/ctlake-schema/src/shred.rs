//! Flat copies of the nested values investigations look up by one value.
//!
//! Most investigation queries filter on a value inside a struct or a map:
//! `useridentity.arn = '...'`, `useridentity.accesskeyid = '...'`,
//! `requestparameters['bucketName'] = '...'`. Parquet readers (DataFusion's and others) use
//! statistics and bloom filters only for top-level columns, so such a query reads every file.
//! Each data file therefore also carries a plain string column per path below, holding exactly
//! the value the path has in that row (null where the path is absent), with a bloom filter.
//! The reader rewrites a predicate on the path into one on the copy to skip files and row
//! groups; rows are still filtered on the original expression.
//!
//! The copies come after the event columns, so a reader that takes the event columns by name
//! (DuckDB's `read_parquet`, Athena with the lake's DDL) sees the plain table; their names start
//! with `_ct_`. The set is fixed and known to the contract (rather than picked per file) so that
//! every file written by one version has the same columns; the commit log records which version
//! of the set each file carries, so files written before a path was added are read without one.

use std::sync::OnceLock;

use arrow_schema::{DataType, Field, SchemaRef};

/// Where a copied value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// A string field of a struct column, through nested structs: `("useridentity",
    /// &["arn"])` is `useridentity.arn`.
    Field(&'static str, &'static [&'static str]),
    /// A key of a `map<string,string>` column (keys are case-sensitive, as in the map).
    MapKey(&'static str, &'static str),
}

/// One flat copy: its column name in the data files and the value it copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shred {
    /// The column's name in the data files.
    pub column: &'static str,
    /// The nested value it holds.
    pub path: Path,
}

/// The flat copies every data file carries, in file column order after the event columns.
/// The principals and the map keys of the saved queries and the commonest investigations.
pub const SHREDDED: &[Shred] = &[
    Shred {
        column: "_ct_useridentity_arn",
        path: Path::Field("useridentity", &["arn"]),
    },
    Shred {
        column: "_ct_useridentity_accesskeyid",
        path: Path::Field("useridentity", &["accesskeyid"]),
    },
    Shred {
        column: "_ct_useridentity_principalid",
        path: Path::Field("useridentity", &["principalid"]),
    },
    Shred {
        column: "_ct_useridentity_sessionissuer_arn",
        path: Path::Field("useridentity", &["sessioncontext", "sessionissuer", "arn"]),
    },
    Shred {
        column: "_ct_requestparameters_bucketname",
        path: Path::MapKey("requestparameters", "bucketName"),
    },
    Shred {
        column: "_ct_requestparameters_rolearn",
        path: Path::MapKey("requestparameters", "roleArn"),
    },
    Shred {
        column: "_ct_requestparameters_username",
        path: Path::MapKey("requestparameters", "userName"),
    },
    Shred {
        column: "_ct_additionaleventdata_mfaused",
        path: Path::MapKey("additionaleventdata", "MFAUsed"),
    },
    Shred {
        column: "_ct_responseelements_consolelogin",
        path: Path::MapKey("responseelements", "ConsoleLogin"),
    },
];

/// The copy of `column` (a top-level column) at `keys` (struct fields, or one map key), if any.
pub fn find(column: &str, keys: &[&str]) -> Option<&'static Shred> {
    SHREDDED.iter().find(|s| match s.path {
        Path::Field(c, fields) => c == column && fields == keys,
        Path::MapKey(c, key) => c == column && keys == [key],
    })
}

/// The version of [`SHREDDED`], recorded in the commit log for each file that carries it. A
/// change to the set (a path added) takes the next number; files with an older one are read
/// without their copies.
pub const VERSION: u32 = 1;

/// The schema of a data file: the event columns, then the flat copies (plain strings).
pub fn file_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            crate::schema::event_fields_then(
                SHREDDED
                    .iter()
                    .map(|s| Field::new(s.column, DataType::Utf8, true)),
            )
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::event_schema;

    /// Every path names a string (or string-valued map) in the event schema, and no copy's
    /// name clashes with a column, case-insensitively (Athena and Hive fold case).
    #[test]
    fn paths_exist_and_names_are_unique() {
        let schema = event_schema();
        let mut seen = std::collections::HashSet::new();
        for s in SHREDDED {
            assert!(s.column.starts_with("_ct_") && s.column == s.column.to_lowercase());
            assert!(seen.insert(s.column), "{} twice", s.column);
            assert!(schema.field_with_name(s.column).is_err());
            match s.path {
                Path::Field(c, fields) => {
                    let mut t = schema.field_with_name(c).unwrap().data_type().clone();
                    for f in fields {
                        let DataType::Struct(children) = t else {
                            panic!("{c}: {f} is not below a struct")
                        };
                        t = children.find(f).unwrap().1.data_type().clone();
                    }
                    assert_eq!(t, DataType::Utf8, "{}", s.column);
                }
                Path::MapKey(c, _) => {
                    assert_eq!(
                        schema.field_with_name(c).unwrap().data_type(),
                        &crate::schema::string_map_type()
                    );
                }
            }
        }
        assert_eq!(
            file_schema().fields().len(),
            schema.fields().len() + SHREDDED.len()
        );
    }
}
