//! The lake's table as other engines declare it: Athena, Trino, Spark and DuckDB.
//!
//! The lake is plain Hive-partitioned Parquet, so another engine needs only a table definition:
//! the event columns with their types in that engine's spelling, the partition columns, and the
//! location. Athena's and Trino's use partition projection on `region` and `date`, so new
//! partitions are found without a crawler or `MSCK REPAIR TABLE`. The flat copies
//! ([`crate::shred`]) are left out: they are ctlake's, for skipping files.

use arrow_schema::{DataType, TimeUnit};
use chrono::NaiveDate;

use crate::schema::{PARTITION_DATE, PARTITION_REGION, event_schema};

/// An engine to write the table definition for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Amazon Athena (Hive DDL, partition projection in `TBLPROPERTIES`).
    Athena,
    /// Trino's Hive connector (partition projection as column properties).
    Trino,
    /// Apache Spark SQL (a Parquet data source table).
    Spark,
    /// DuckDB (a view over `read_parquet`).
    Duckdb,
}

/// Where the table is and what the projection must cover.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The table's name.
    pub table: &'a str,
    /// The lake's root (`s3://bucket/prefix` or a local path), without a trailing slash.
    pub location: &'a str,
    /// The regions of the lake (Athena's and Trino's projection enumerates them).
    pub regions: &'a [String],
    /// The first date of the projection's range (it runs to `NOW`).
    pub first_date: NaiveDate,
}

/// The statements that declare the lake's table to `engine`, each ending with `;`.
pub fn table_ddl(engine: Engine, target: &Target<'_>) -> String {
    let data = format!("{}/cloudtrail", target.location.trim_end_matches('/'));
    let schema = event_schema();
    let columns = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type()))
        .collect::<Vec<_>>();
    let regions = target.regions.join(",");
    let first = target.first_date.format("%Y-%m-%d");
    match engine {
        Engine::Athena => {
            let cols = columns
                .iter()
                .map(|(n, t)| format!("  `{n}` {}", hive_type(t)))
                .collect::<Vec<_>>()
                .join(",\n");
            format!(
                "CREATE EXTERNAL TABLE `{table}` (\n{cols}\n)\n\
                 PARTITIONED BY (`{PARTITION_REGION}` string, `{PARTITION_DATE}` string)\n\
                 STORED AS PARQUET\n\
                 LOCATION '{data}/'\n\
                 TBLPROPERTIES (\n  \
                 'projection.enabled' = 'true',\n  \
                 'projection.region.type' = 'enum',\n  \
                 'projection.region.values' = '{regions}',\n  \
                 'projection.date.type' = 'date',\n  \
                 'projection.date.format' = 'yyyy-MM-dd',\n  \
                 'projection.date.range' = '{first},NOW',\n  \
                 'projection.date.interval' = '1',\n  \
                 'projection.date.interval.unit' = 'DAYS',\n  \
                 'storage.location.template' = '{data}/region=${{region}}/date=${{date}}/'\n);\n",
                table = target.table,
            )
        }
        Engine::Trino => {
            let mut cols: Vec<String> = columns
                .iter()
                .map(|(n, t)| format!("  \"{n}\" {}", trino_type(t)))
                .collect();
            let quoted = target
                .regions
                .iter()
                .map(|r| format!("'{r}'"))
                .collect::<Vec<_>>()
                .join(", ");
            cols.push(format!(
                "  \"{PARTITION_REGION}\" varchar WITH (partition_projection_type = 'enum', \
                 partition_projection_values = ARRAY[{quoted}])"
            ));
            cols.push(format!(
                "  \"{PARTITION_DATE}\" varchar WITH (partition_projection_type = 'date', \
                 partition_projection_format = 'yyyy-MM-dd', \
                 partition_projection_range = ARRAY['{first}', 'NOW'], \
                 partition_projection_interval = 1, \
                 partition_projection_interval_unit = 'DAYS')"
            ));
            format!(
                "CREATE TABLE \"{table}\" (\n{cols}\n)\nWITH (\n  \
                 external_location = '{data}/',\n  \
                 format = 'PARQUET',\n  \
                 partitioned_by = ARRAY['{PARTITION_REGION}', '{PARTITION_DATE}'],\n  \
                 partition_projection_enabled = true,\n  \
                 partition_projection_location_template = '{data}/region=${{region}}/date=${{date}}/'\n);\n",
                table = target.table,
                cols = cols.join(",\n"),
            )
        }
        Engine::Spark => {
            let mut cols: Vec<String> = columns
                .iter()
                .map(|(n, t)| format!("  `{n}` {}", hive_type(t)))
                .collect();
            cols.push(format!("  `{PARTITION_REGION}` string"));
            cols.push(format!("  `{PARTITION_DATE}` string"));
            format!(
                "CREATE TABLE `{table}` (\n{cols}\n)\n\
                 USING PARQUET\n\
                 PARTITIONED BY (`{PARTITION_REGION}`, `{PARTITION_DATE}`)\n\
                 LOCATION '{data}/';\n\
                 MSCK REPAIR TABLE `{table}`;\n",
                table = target.table,
                cols = cols.join(",\n"),
            )
        }
        Engine::Duckdb => {
            let cols = columns
                .iter()
                .map(|(n, _)| format!("\"{n}\""))
                .chain([
                    format!("\"{PARTITION_REGION}\""),
                    format!("\"{PARTITION_DATE}\""),
                ])
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "CREATE OR REPLACE VIEW \"{table}\" AS\nSELECT {cols}\n\
                 FROM read_parquet('{data}/*/*/*.parquet', hive_partitioning = true, \
                 hive_types = {{'{PARTITION_REGION}': VARCHAR, '{PARTITION_DATE}': DATE}});\n",
                table = target.table,
            )
        }
    }
}

/// Hive's (Athena's, Spark's) spelling of a column type.
fn hive_type(t: &DataType) -> String {
    match t {
        DataType::Utf8 => "string".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "map<{},{}>",
                hive_type(kv[0].data_type()),
                hive_type(kv[1].data_type())
            ),
            other => hive_type(other),
        },
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), hive_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        DataType::List(item) => format!("array<{}>", hive_type(item.data_type())),
        other => other.to_string().to_lowercase(),
    }
}

/// Trino's name for a type, as `typeof` prints it and a Trino table declares it.
pub fn trino_type(t: &DataType) -> String {
    match t {
        DataType::Null => "unknown".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "integer".into(),
        DataType::Int64 => "bigint".into(),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "varchar".into(),
        DataType::Binary | DataType::BinaryView | DataType::LargeBinary => "varbinary".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(unit, tz) => {
            let p = match unit {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 3,
                TimeUnit::Microsecond => 6,
                TimeUnit::Nanosecond => 9,
            };
            match tz {
                Some(_) => format!("timestamp({p}) with time zone"),
                None => format!("timestamp({p})"),
            }
        }
        DataType::Interval(_) | DataType::Duration(_) => "interval day to second".into(),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            format!("array({})", trino_type(f.data_type()))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "map({}, {})",
                trino_type(kv[0].data_type()),
                trino_type(kv[1].data_type())
            ),
            other => trino_type(other),
        },
        DataType::Struct(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| format!("{} {}", f.name(), trino_type(f.data_type())))
                .collect();
            format!("row({})", inner.join(", "))
        }
        other => other.to_string().to_lowercase(),
    }
}
