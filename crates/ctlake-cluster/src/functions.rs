//! ctlake's functions on every process of a cluster. A physical plan names its functions
//! and the receiving process looks them up in its own registry, so the scheduler (which
//! decodes the plan to split it into stages) and each executor must know the same set as the
//! client that planned it: DataFusion's, Ballista's, and ctlake's Trino functions, ARN
//! helpers and lambdas, taken from a session that `ctlake_query::register_functions` filled.

use std::collections::HashMap;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::execution::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};

/// A scheduler session: Ballista's default one with ctlake's functions.
pub fn session_state(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    let state = ballista_core::utils::default_session_builder(config)?;
    let ctx = SessionContext::new_with_state(state);
    ctlake_query::register_functions(&ctx, None);
    Ok(ctx.state())
}

/// An executor's registry: every function of a scheduler session, under each of its names.
pub fn registry() -> datafusion::error::Result<Arc<BallistaFunctionRegistry>> {
    let state = session_state(crate::settings::config())?;
    let mut registry = BallistaFunctionRegistry::default();
    add(&mut registry.scalar_functions, state.scalar_functions());
    add(
        &mut registry.aggregate_functions,
        state.aggregate_functions(),
    );
    add(&mut registry.window_functions, state.window_functions());
    add(
        &mut registry.higher_order_functions,
        state.higher_order_functions(),
    );
    Ok(Arc::new(registry))
}

/// Adds (or replaces) every function of `from` in `to`, under the same names.
fn add<F: ?Sized>(to: &mut HashMap<String, Arc<F>>, from: &HashMap<String, Arc<F>>) {
    to.extend(from.iter().map(|(k, v)| (k.clone(), Arc::clone(v))));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executors_know_the_functions_a_lake_session_has() {
        let registry = registry().expect("registry");
        // A Trino function, an ARN helper, a lambda, a lenient variant and a guard's name.
        for name in [
            "json_extract_scalar",
            "principal_name",
            "from_iso8601_timestamp",
            "repeat",
        ] {
            assert!(registry.scalar_functions.contains_key(name), "{name}");
        }
        let lake = SessionContext::new();
        ctlake_query::register_functions(&lake, None);
        let state = lake.state();
        for name in state.scalar_functions().keys() {
            assert!(registry.scalar_functions.contains_key(name), "{name}");
        }
        for name in state.higher_order_functions().keys() {
            assert!(registry.higher_order_functions.contains_key(name), "{name}");
        }
    }
}
