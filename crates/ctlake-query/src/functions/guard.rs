//! Output-size guards for the string functions whose result a query can make arbitrarily
//! large from a small input: `repeat(eventjson, 100000)` asked DataFusion for a 16 GB buffer in
//! one allocation, which aborts the process whatever the memory limit says (scalar functions
//! allocate outside the memory pool). Each guard computes its output size first and fails
//! the query with a reason when it is above the session's memory limit.

use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use datafusion::prelude::SessionContext;

/// The functions guarded: (name, how the output size follows from the arguments).
const GUARDED: [&str; 3] = ["repeat", "lpad", "rpad"];

/// Wraps DataFusion's `repeat`, `lpad` and `rpad` in `ctx` with a guard of `limit` bytes.
pub(crate) fn register(ctx: &SessionContext, limit: usize) {
    let state = ctx.state();
    for name in GUARDED {
        if let Some(inner) = state.scalar_functions().get(name) {
            ctx.register_udf(ScalarUDF::new_from_impl(Guarded {
                inner: Arc::clone(inner),
                limit,
            }));
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Guarded {
    inner: Arc<ScalarUDF>,
    limit: usize,
}

/// Per row, an argument's byte length (`text`) or value as a number; `None` for NULL.
fn numbers(arg: &ColumnarValue, rows: usize, text: bool) -> Option<Vec<Option<i64>>> {
    let array = arg.to_array(rows).ok()?;
    let array = if text {
        arrow::compute::kernels::length::length(&array).ok()?
    } else {
        array
    };
    let values = arrow::compute::cast(&array, &DataType::Int64).ok()?;
    Some(values.as_primitive::<Int64Type>().iter().collect())
}

impl ScalarUDFImpl for Guarded {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.inner.return_type(args)
    }
    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(args)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows.max(1);
        let mut total: i128 = 0;
        if args.args.len() >= 2 {
            let (Some(first), Some(second)) = (
                numbers(&args.args[0], rows, true),
                numbers(&args.args[1], rows, false),
            ) else {
                return self.inner.invoke_with_args(args);
            };
            // The fill of lpad/rpad repeats up to the target length; repeat multiplies.
            for (len, n) in first.iter().zip(&second) {
                let (Some(len), Some(n)) = (len, n) else {
                    continue;
                };
                total += match self.name() {
                    "repeat" => (*len as i128) * (*n).max(0) as i128,
                    _ => (*n).max(0) as i128 * 4,
                };
            }
        }
        if total > self.limit as i128 {
            return exec_err!(
                "{}() would produce {total} bytes in one batch, more than the memory limit of {} \
                 bytes (--memory-limit)",
                self.name(),
                self.limit
            );
        }
        self.inner.invoke_with_args(args)
    }
}
