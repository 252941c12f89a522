//! `ctlake ddl`: the lake's table definition for another engine.

use std::io::Write;

use anyhow::Context;
use ctlake_ingest::LakeWriter;
use ctlake_schema::ddl::{self, Engine, Target};

use crate::Global;
use crate::args::LakeArg;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum EngineArg {
    Athena,
    Trino,
    Spark,
    Duckdb,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    lake: LakeArg,
    /// The engine whose SQL to print.
    #[arg(long, value_enum, default_value = "athena")]
    engine: EngineArg,
    /// Where that engine finds the lake's root (the folder holding `cloudtrail/`), when not
    /// where `--lake` is: for Athena and Trino, the `s3://` copy of a local lake.
    #[arg(long, value_name = "URL|DIR")]
    location: Option<String>,
    /// The table's name.
    #[arg(long, default_value = "cloudtrail")]
    table: String,
}

impl Args {
    pub fn run(self, _: &Global) -> anyhow::Result<u8> {
        let summary = LakeWriter::open(&self.lake.lake)?.summary()?;
        let lake = self.lake.lake.to_string_lossy().to_string();
        let location = match self.location {
            Some(l) => l,
            None if lake.starts_with("s3://") => lake,
            None if matches!(self.engine, EngineArg::Athena | EngineArg::Trino) => {
                eprintln!(
                    "ctlake: {lake} is a local lake; Athena and Trino read it from S3: give \
                     --location s3://BUCKET/PREFIX where it is copied (the folder holding \
                     cloudtrail/)"
                );
                return Ok(2);
            }
            None => std::fs::canonicalize(&self.lake.lake)
                .with_context(|| format!("cannot resolve {lake}"))?
                .to_string_lossy()
                .to_string(),
        };
        let regions: Vec<String> = summary.regions.keys().cloned().collect();
        let Some(&first_date) = summary.dates.first() else {
            eprintln!("ctlake: the lake holds no events yet: ingest first");
            return Ok(2);
        };
        let engine = match self.engine {
            EngineArg::Athena => Engine::Athena,
            EngineArg::Trino => Engine::Trino,
            EngineArg::Spark => Engine::Spark,
            EngineArg::Duckdb => Engine::Duckdb,
        };
        let target = Target {
            table: &self.table,
            location: &location,
            regions: &regions,
            first_date,
        };
        std::io::stdout().write_all(ddl::table_ddl(engine, &target).as_bytes())?;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::{Dialect, SparkSqlDialect};
    use datafusion::sql::sqlparser::parser::Parser;

    /// The definition for `engine` of a lake at `location` with two regions from 2026-11-10.
    fn ddl_sql(engine: Engine, location: &str) -> String {
        let regions = ["eu-west-1".to_string(), "us-east-1".to_string()];
        ddl::table_ddl(
            engine,
            &Target {
                table: "cloudtrail",
                location,
                regions: &regions,
                first_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 10).unwrap(),
            },
        )
    }

    fn parses(engine: Engine, dialect: &dyn Dialect) -> Vec<String> {
        let sql = ddl_sql(engine, "s3://bucket/lakes/main");
        let statements = Parser::parse_sql(dialect, &sql).unwrap_or_else(|e| panic!("{e}\n{sql}"));
        statements.iter().map(|s| s.to_string()).collect()
    }

    /// Athena's DDL is HiveQL, which Spark SQL's parser reads (sqlparser's Hive dialect has no
    /// `struct<..>` types): every column, the two partition columns, the projection on both.
    #[test]
    fn athena_ddl_parses_as_hiveql() {
        let s = parses(Engine::Athena, &SparkSqlDialect {});
        assert_eq!(s.len(), 1);
        let sql = &s[0];
        for column in ctlake_schema::event_schema().fields() {
            assert!(
                sql.contains(&format!("`{}`", column.name())),
                "{}",
                column.name()
            );
        }
        for want in [
            "PARTITIONED BY (`region` STRING, `date` STRING)",
            "'projection.region.values' = 'eu-west-1,us-east-1'",
            "'projection.date.range' = '2026-11-10,NOW'",
            "s3://bucket/lakes/main/cloudtrail/region=${region}/date=${date}/",
            "STORED AS PARQUET",
        ] {
            assert!(sql.contains(want), "{want} in\n{sql}");
        }
        assert!(!sql.contains("_ct_"));
    }

    /// sqlparser wants `PARTITIONED BY` before `USING`, where Spark's grammar wants it after,
    /// so Spark's DDL is checked by its shape, like Trino's below.
    #[test]
    fn spark_ddl_has_every_column_and_the_partitions() {
        let sql = ddl_sql(Engine::Spark, "/data/lake");
        let columns: Vec<&str> = sql.lines().filter(|l| l.starts_with("  `")).collect();
        let schema = ctlake_schema::event_schema();
        assert_eq!(columns.len(), schema.fields().len() + 2);
        for (line, field) in columns.iter().zip(schema.fields()) {
            assert!(
                line.starts_with(&format!("  `{}` ", field.name())),
                "{line}"
            );
        }
        for want in [
            "  `useridentity` struct<type:string,",
            "  `requestparameters` map<string,string>,",
            ")\nUSING PARQUET\nPARTITIONED BY (`region`, `date`)\nLOCATION '/data/lake/cloudtrail/';\n",
            "MSCK REPAIR TABLE `cloudtrail`;",
        ] {
            assert!(sql.contains(want), "{want} in\n{sql}");
        }
        // The column types are Spark SQL's: the same types parse in a Hive-format statement.
        let hive = sql.split(")\nUSING").next().unwrap().to_string() + ") STORED AS PARQUET";
        Parser::parse_sql(&SparkSqlDialect {}, &hive).unwrap_or_else(|e| panic!("{e}\n{hive}"));
    }

    /// sqlparser reads no Trino `row(..)` types, so Trino's DDL is checked by its shape: every
    /// column once, parentheses balanced, the partition columns last with their projection.
    #[test]
    fn trino_ddl_has_every_column_and_the_projection() {
        let sql = ddl_sql(Engine::Trino, "s3://bucket/lakes/main");
        let depth = sql.chars().try_fold(0i32, |d, c| match c {
            '(' => Some(d + 1),
            ')' => (d > 0).then(|| d - 1),
            _ => Some(d),
        });
        assert_eq!(depth, Some(0), "{sql}");
        let columns: Vec<&str> = sql.lines().filter(|l| l.starts_with("  \"")).collect();
        let schema = ctlake_schema::event_schema();
        assert_eq!(columns.len(), schema.fields().len() + 2);
        for (line, field) in columns.iter().zip(schema.fields()) {
            assert!(
                line.starts_with(&format!("  \"{}\" ", field.name())),
                "{line}"
            );
        }
        assert!(
            columns[columns.len() - 2]
                .contains("partition_projection_values = ARRAY['eu-west-1', 'us-east-1']")
        );
        assert!(
            columns[columns.len() - 1]
                .contains("partition_projection_range = ARRAY['2026-11-10', 'NOW']")
        );
        assert!(sql.contains("\"useridentity\" row(type varchar, "), "{sql}");
        assert!(
            sql.contains("\"requestparameters\" map(varchar, varchar)"),
            "{sql}"
        );
        assert!(sql.contains("partition_projection_location_template = 's3://bucket/lakes/main/cloudtrail/region=${region}/date=${date}/'"));
    }
}
