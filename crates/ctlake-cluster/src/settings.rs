//! The `ctlake.*` session settings: what the executors need to know about a query that its
//! plan does not say. Ballista forwards a job's settings to every task, but only those the
//! receiving process's configuration knows, so the scheduler and the executors register this
//! extension too ([`config`]).

use std::collections::BTreeMap;

use datafusion::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionConfig;

/// ctlake's settings in a Ballista session.
#[derive(Debug, Clone, Default)]
pub struct CtlakeSettings {
    /// The lakes a query reads, as JSON: `{"ctlake://<id>/": "<folder or s3://...>"}`.
    pub lakes: String,
}

const LAKES: &str = "lakes";

impl ConfigExtension for CtlakeSettings {
    const PREFIX: &'static str = "ctlake";
}

// By hand, not with DataFusion's `extensions_options!`: its entries leave out the prefix, and
// Ballista sends a session's entries by key, so `lakes` alone would be refused on arrival.
impl ExtensionOptions for CtlakeSettings {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> datafusion::error::Result<()> {
        match key {
            LAKES => {
                self.lakes = value.to_string();
                Ok(())
            }
            other => Err(DataFusionError::Configuration(format!(
                "no setting {}.{other}",
                Self::PREFIX
            ))),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![ConfigEntry {
            key: format!("{}.{LAKES}", Self::PREFIX),
            value: Some(self.lakes.clone()),
            description: "the lakes a query reads: store URL to location, as JSON",
        }]
    }
}

impl CtlakeSettings {
    /// Settings naming `lakes`: store URL to location.
    pub fn with_lakes(lakes: &BTreeMap<String, String>) -> Self {
        Self {
            lakes: serde_json::to_string(lakes).unwrap_or_default(),
        }
    }

    /// The lakes named: store URL to location (none when unset or unreadable).
    pub fn lakes(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&self.lakes).unwrap_or_default()
    }
}

/// Ballista's session configuration with ctlake's settings registered: what the scheduler
/// and the executors start every session from.
pub fn config() -> SessionConfig {
    use ballista_core::extension::SessionConfigExt;
    SessionConfig::new_with_ballista().with_option_extension(CtlakeSettings::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballista_core::extension::SessionConfigHelperExt;

    #[test]
    fn lakes_travel_as_settings() {
        let lakes = BTreeMap::from([(
            "ctlake://abc/".to_string(),
            "s3://bucket/prefix".to_string(),
        )]);
        let sent = config().with_option_extension(CtlakeSettings::with_lakes(&lakes));
        let pairs = sent.to_key_value_pairs();
        assert!(pairs.iter().any(|p| p.key == "ctlake.lakes"), "{pairs:?}");
        // A fresh process's config, updated from the pairs as an executor does.
        let received = config().update_from_key_value_pair(&pairs);
        let got = received
            .options()
            .extensions
            .get::<CtlakeSettings>()
            .map(CtlakeSettings::lakes);
        assert_eq!(got, Some(lakes));
    }
}
