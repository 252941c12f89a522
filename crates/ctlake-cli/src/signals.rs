//! Ctrl-C and SIGTERM: one process-wide handler (the `ctrlc` crate allows one), whose action
//! each part sets for itself: ingest stops after its commit, the shell cancels a query.

use std::sync::{Mutex, OnceLock};

type Action = Box<dyn Fn() + Send + Sync>;

static ACTION: OnceLock<Mutex<Option<Action>>> = OnceLock::new();

/// Makes `action` what Ctrl-C and SIGTERM do from now on.
pub fn on_interrupt(action: impl Fn() + Send + Sync + 'static) -> anyhow::Result<()> {
    let mut installed = Ok(());
    let slot = ACTION.get_or_init(|| {
        installed = ctrlc::set_handler(|| {
            let slot = ACTION.get().expect("set before the handler");
            if let Some(action) = slot.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                action();
            }
        });
        Mutex::new(None)
    });
    if let Err(e) = installed {
        anyhow::bail!("installing the Ctrl-C handler: {e}");
    }
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(action));
    Ok(())
}
