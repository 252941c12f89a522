//! The lakes' object stores on a cluster's processes. A plan's scans name their store as
//! `ctlake://<id>/`; the session's `ctlake.lakes` setting says where that lake is, and each
//! process (the scheduler, which touches the stores while decoding a plan, and every
//! executor) opens it with the same code and AWS credentials chain as `ctlake query`, once per
//! lake, and registers it in the runtime of every session that reads it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionConfig;
use object_store::ObjectStore;

use crate::settings::CtlakeSettings;

/// A store's key: its URL and the lake's location.
type Key = (String, String);

/// The stores this process has opened.
#[derive(Default, Clone)]
pub(crate) struct Stores(Arc<Mutex<HashMap<Key, Arc<dyn ObjectStore>>>>);

impl Stores {
    /// Registers in `runtime` the store of every lake `config` names.
    pub(crate) fn register(
        &self,
        config: &SessionConfig,
        runtime: &RuntimeEnv,
    ) -> datafusion::error::Result<()> {
        let lakes = config
            .options()
            .extensions
            .get::<CtlakeSettings>()
            .map(CtlakeSettings::lakes)
            .unwrap_or_default();
        for (url, location) in lakes {
            let store = self.open(&url, &location)?;
            let parsed = url::Url::parse(&url)
                .map_err(|e| DataFusionError::Configuration(format!("{url}: {e}")))?;
            runtime.register_object_store(&parsed, store);
        }
        Ok(())
    }

    fn open(&self, url: &str, location: &str) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        let key = (url.to_string(), location.to_string());
        let mut stores = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = stores.get(&key) {
            return Ok(Arc::clone(store));
        }
        let opened = ctlake_store::Location::parse(location)
            .and_then(|l| ctlake_store::open(&l, false))
            .map_err(|e| {
                DataFusionError::Execution(format!("cannot open the lake at {location}: {e}"))
            })?;
        stores.insert(key, Arc::clone(&opened));
        Ok(opened)
    }
}
