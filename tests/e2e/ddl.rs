//! `ctlake ddl`: the table definition other engines read the lake with.

use crate::common::*;

/// DuckDB runs the view `ctlake ddl --engine duckdb` prints: it has the table's columns (no
/// flat copies) and the events per region the independent Python reader counts.
#[test]
fn duckdb_reads_the_lake_through_the_printed_view() {
    let (_dir, lake, expected) = sample_lake();
    let lake_arg = lake.display().to_string();
    let r = run(&["ddl", "--lake", &lake_arg, "--engine", "duckdb"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let script = format!(
        "import duckdb\n\
         con = duckdb.connect()\n\
         con.sql('''{}''')\n\
         print(','.join(d[0] for d in con.sql('SELECT * FROM cloudtrail LIMIT 0').description))\n\
         for region, n in con.sql('SELECT region, count(*) FROM cloudtrail GROUP BY 1 ORDER BY 1').fetchall():\n    \
             print(f'{{region}},{{n}}')\n",
        r.stdout
    );
    let Some(out) = duckdb(&script) else {
        return;
    };
    let mut lines = out.lines();
    let header = query_as(&lake, "csv", "SELECT * FROM cloudtrail LIMIT 0");
    assert_eq!(lines.next(), header.lines().next());
    assert_eq!(counts(lines), expected.by_region());
}

/// Athena's and Trino's definitions need the lake's S3 location; a local lake without
/// `--location` is a usage error that says so.
#[test]
fn athena_needs_an_s3_location() {
    let (_dir, lake, _) = sample_lake();
    let lake_arg = lake.display().to_string();
    let r = run(&["ddl", "--lake", &lake_arg, "--engine", "athena"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--location s3://"), "{}", r.stderr);
    let r = run(&[
        "ddl",
        "--lake",
        &lake_arg,
        "--engine",
        "athena",
        "--location",
        "s3://audit-lake/ctlake",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("LOCATION 's3://audit-lake/ctlake/cloudtrail/'"),
        "{}",
        r.stdout
    );
    // The sample's five regions, in the projection.
    assert!(
        r.stdout.contains(
            "'projection.region.values' = 'ap-east-1,eu-central-1,eu-west-1,us-east-1,us-west-2'"
        ),
        "{}",
        r.stdout
    );
}
