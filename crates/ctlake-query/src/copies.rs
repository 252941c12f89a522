//! Nested lookups answered from the data files' flat copies (`ctlake_schema::shred`).
//!
//! Data files carry plain string copies of the nested values looked up most
//! (`useridentity.arn`, `requestparameters['bucketName']`, ...). Two places use them:
//!
//! - **Filters** ([`onto_copies`]): a predicate on a copied path is rewritten onto the copy's
//!   column before the scan prunes, so bloom filters and statistics skip files and row groups.
//! - **Reads** ([`ReadCopies`]): DataFusion moves `get_field(map, 'key')` and `element_at(map,
//!   'key')` into the Parquet scan's projection; this physical rule then replaces them with
//!   the copy's column, so `GROUP BY element_at(requestparameters, 'bucketName')` reads one
//!   small column instead of every key and value of the map.
//!
//! Both apply only to scans of files that carry the copies (see `table::LakeTable::scan`), and
//! a copy holds exactly the path's value in each row, so answers are unchanged.

use std::sync::Arc;

use ctlake_schema::shred;
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::physical_plan::{
    FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_expr::projection::{ProjectionExpr, ProjectionExprs};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::metrics::{MetricBuilder, MetricValue};
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};

/// The functions that look a constant key up in a struct or map column.
fn is_lookup(name: &str) -> bool {
    matches!(name, "get_field" | "element_at")
}

fn text(value: &ScalarValue) -> Option<&str> {
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Some(s),
        _ => None,
    }
}

/// The copy of `column` at `keys`, if there is one.
fn copy_of(column: &str, keys: &[String]) -> Option<&'static shred::Shred> {
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    shred::find(column, &keys)
}

/// `predicate` with every nested path that has a flat copy (`useridentity.arn`,
/// `element_at(requestparameters, 'bucketName')`, `additionaleventdata['MFAUsed']`) replaced
/// by the copy's column; `None` when it names none. The copy holds exactly the path's value,
/// so the rewritten predicate selects the same rows.
pub(crate) fn onto_copies(predicate: &Expr) -> Option<Expr> {
    let rewritten = predicate
        .clone()
        .transform_down(|e| {
            match logical_path(&e).and_then(|(column, keys)| copy_of(&column, &keys)) {
                Some(copy) => {
                    let column =
                        Expr::Column(datafusion::common::Column::new_unqualified(copy.column));
                    Ok(Transformed::new(column, true, TreeNodeRecursion::Jump))
                }
                None => Ok(Transformed::no(e)),
            }
        })
        .ok()?;
    rewritten.transformed.then_some(rewritten.data)
}

/// The column and keys of a struct field or map lookup with constant keys: `useridentity.arn`
/// (`get_field`), `requestparameters['k']`, `element_at(requestparameters, 'k')`.
fn logical_path(e: &Expr) -> Option<(String, Vec<String>)> {
    let Expr::ScalarFunction(f) = e else {
        return None;
    };
    if !is_lookup(f.name()) || f.args.len() < 2 {
        return None;
    }
    let keys = f.args[1..]
        .iter()
        .map(|k| match k {
            Expr::Literal(value, _) => text(value).map(str::to_string),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    match &f.args[0] {
        Expr::Column(c) => Some((c.name.clone(), keys)),
        inner => {
            let (column, mut outer) = logical_path(inner)?;
            outer.extend(keys);
            Some((column, outer))
        }
    }
}

/// The same for a physical expression.
fn physical_path(e: &Arc<dyn PhysicalExpr>) -> Option<(String, Vec<String>)> {
    let f = e.downcast_ref::<ScalarFunctionExpr>()?;
    if !is_lookup(f.name()) || f.args().len() < 2 {
        return None;
    }
    let keys = f.args()[1..]
        .iter()
        .map(|k| {
            k.downcast_ref::<Literal>()
                .and_then(|l| text(l.value()))
                .map(str::to_string)
        })
        .collect::<Option<Vec<_>>>()?;
    let base = &f.args()[0];
    match base.downcast_ref::<Column>() {
        Some(c) => Some((c.name().to_string(), keys)),
        None => {
            let (column, mut outer) = physical_path(base)?;
            outer.extend(keys);
            Some((column, outer))
        }
    }
}

/// The physical rule that reads copies instead of the nested values they copy (see the
/// module docs). Registered after DataFusion's projection pushdown, once projections sit in
/// the scans, and before its sort and dynamic filter pushdown, which the rebuilt scan keeps.
#[derive(Debug, Default)]
pub(crate) struct ReadCopies;

impl PhysicalOptimizerRule for ReadCopies {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| match read_copies(&node)? {
            Some(scan) => Ok(Transformed::yes(scan)),
            None => Ok(Transformed::no(node)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "ctlake_read_copies"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `node` rebuilt to read copies, when it is a scan of files with copies whose projection
/// looks a copied path up.
fn read_copies(
    node: &Arc<dyn ExecutionPlan>,
) -> datafusion::error::Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
        return Ok(None);
    };
    let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
        return Ok(None);
    };
    let Some(source) = config.file_source().downcast_ref::<ParquetSource>() else {
        return Ok(None);
    };
    let table_schema = source.table_schema();
    // Only the scans `LakeTable` makes over files that carry the copies.
    if **table_schema.file_schema() != *shred::file_schema() {
        return Ok(None);
    }
    let Some(projection) = source.projection() else {
        return Ok(None);
    };
    let full = table_schema.table_schema();
    let mut changed = false;
    let mut exprs = Vec::new();
    for p in projection.as_ref() {
        let expr = Arc::clone(&p.expr).transform_down(|e| {
            let copy = physical_path(&e).and_then(|(column, keys)| copy_of(&column, &keys));
            match copy.and_then(|c| full.index_of(c.column).ok().map(|i| (c, i))) {
                Some((copy, index)) => {
                    let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(copy.column, index));
                    Ok(Transformed::new(column, true, TreeNodeRecursion::Jump))
                }
                None => Ok(Transformed::no(e)),
            }
        })?;
        changed |= expr.transformed;
        exprs.push(ProjectionExpr::new(expr.data, p.alias.clone()));
    }
    if !changed {
        return Ok(None);
    }
    // A new source over the same table schema (its projection starts as every column, so
    // the rewritten projection replaces rather than composes), with the same predicate, the
    // scan statistics `LakeTable` recorded on the old one, and its options: when it took the
    // query's filters to apply while decoding (`pushdown_filters`), DataFusion removed the
    // filter above it, and a scan that only pruned with them would return every row.
    let mut fresh = crate::table::parquet_source(
        table_schema.clone(),
        source.parquet_file_reader_factory().cloned(),
    )
    .with_table_parquet_options(source.table_parquet_options().clone());
    if let Some(predicate) = source.filter() {
        fresh = fresh.with_predicate(predicate);
    }
    for metric in source.metrics().clone_inner().iter() {
        if let MetricValue::Count { name, count } = metric.value()
            && name.starts_with("ctlake_")
        {
            MetricBuilder::new(fresh.metrics())
                .global_counter(name.to_string())
                .add(count.value());
        }
    }
    let Some(fresh) = fresh.try_pushdown_projection(&ProjectionExprs::new(exprs))? else {
        return Ok(None);
    };
    let config = FileScanConfigBuilder::from(config.clone())
        .with_source(fresh)
        .build();
    Ok(Some(DataSourceExec::from_data_source(config)))
}
