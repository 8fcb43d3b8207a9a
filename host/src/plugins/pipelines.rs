//! Each project's own pipeline of agents: versions pinned per role and validators chained after
//! the main one, checked before they are kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::pipeline::AgentChoice;
use crate::plugins::{PluginError, PluginStore, store};
use crate::runtime::Role;

/// A project's choice of agents, as stored and as the API takes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ProjectPipeline {
    /// Role → a stored version or `builtin`; a role left out follows the host's active version.
    #[serde(default)]
    pub(crate) agents: BTreeMap<String, String>,
    /// Stored validator versions that run after the main validator, in order.
    #[serde(default)]
    pub(crate) extra_validators: Vec<String>,
}

impl PluginStore {
    /// Checks a project's pipeline: known roles, versions that exist, a bounded chain.
    pub(crate) async fn check_pipeline(&self, pipeline: &ProjectPipeline) -> Result<(), PluginError> {
        for (role, version) in &pipeline.agents {
            let role: Role = role.parse().map_err(PluginError::BadPipeline)?;
            self.agent(role, version).await.map_err(|e| match e {
                PluginError::UnknownVersion(v) => PluginError::BadPipeline(format!("no version {v} of the {role}")),
                other => other,
            })?;
        }
        if pipeline.extra_validators.len() > self.max_extra_validators {
            return Err(PluginError::BadPipeline(format!(
                "{} extra validators; at most {} may be chained",
                pipeline.extra_validators.len(),
                self.max_extra_validators
            )));
        }
        for (i, version) in pipeline.extra_validators.iter().enumerate() {
            if pipeline.extra_validators[..i].contains(version) {
                return Err(PluginError::BadPipeline(format!("validator {version} is chained twice")));
            }
            if version == "builtin" || version == self.runtime.builtin_version(Role::Validator) {
                return Err(PluginError::BadPipeline(
                    "the built-in validator always runs first; chain other versions".into(),
                ));
            }
            self.agent(Role::Validator, version).await.map_err(|e| match e {
                PluginError::UnknownVersion(v) => PluginError::BadPipeline(format!("no validator version {v}")),
                other => other,
            })?;
        }
        Ok(())
    }

    /// A project's stored pipeline, or the default (the host's active agents, nothing chained).
    pub(crate) async fn pipeline(&self, project: &str) -> Result<ProjectPipeline, PluginError> {
        Ok(match store::project_pipeline(&self.db, project).await? {
            Some(json) => {
                serde_json::from_str(&json).map_err(|e| PluginError::Storage(format!("pipeline of {project}: {e}")))?
            }
            None => ProjectPipeline::default(),
        })
    }

    pub(crate) async fn set_pipeline(&self, project: &str, pipeline: &ProjectPipeline) -> Result<(), PluginError> {
        self.check_pipeline(pipeline).await?;
        let json = serde_json::to_string(pipeline).map_err(|e| PluginError::Storage(e.to_string()))?;
        store::set_project_pipeline(&self.db, project, &json).await?;
        Ok(())
    }

    /// The agents a run of `project` uses besides (or instead of) the host's active ones.
    pub(crate) async fn choice_for(&self, project: &str) -> Result<AgentChoice, PluginError> {
        let pipeline = self.pipeline(project).await?;
        let mut choice = AgentChoice::default();
        for (role, version) in &pipeline.agents {
            let role: Role = role.parse().map_err(PluginError::BadPipeline)?;
            choice.pinned.insert(role, self.agent(role, version).await?);
        }
        for version in &pipeline.extra_validators {
            choice.extra_validators.push(self.agent(Role::Validator, version).await?);
        }
        Ok(choice)
    }
}
