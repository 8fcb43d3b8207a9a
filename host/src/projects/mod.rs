//! Projects: the rules for an id and a name, who owns which, and deleting one with everything it
//! has (sandbox, files, site, record). Someone else's project is answered like a missing one.

mod store;

use std::sync::Arc;

pub(crate) use store::Project;

use crate::db::{Database, DbError};
use crate::deploy::Deployer;
use crate::preview::Previews;
use crate::workspace::Workspaces;

/// The longest project name, in characters.
const MAX_NAME_CHARS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ProjectError {
    #[error("{0:?} is not a valid project id (1-63 lowercase letters, digits or -, not starting or ending with -)")]
    InvalidId(String),
    #[error("a project name has at most {MAX_NAME_CHARS} characters")]
    NameTooLong,
    /// Missing, or someone else's: the two are told apart to nobody, so ids do not leak.
    #[error("no such project")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot take the project's turn: {0}")]
    Turn(String),
}

/// A project id is a lowercase DNS label (the frontend's are lowercase uuids): it names the
/// project's site, `{id}.{sites domain}`, and host names are case-insensitive, so two ids that
/// differ only by case, or that a host name cannot spell, would let one site answer for another.
pub(crate) fn check_id(id: &str) -> Result<(), ProjectError> {
    if crate::workspace::valid_project_id(id) { Ok(()) } else { Err(ProjectError::InvalidId(id.to_string())) }
}

#[derive(Clone)]
pub(crate) struct Projects {
    db: Database,
    workspaces: Workspaces,
    /// `None` when sandboxes are turned off.
    previews: Option<Arc<Previews>>,
    deployer: Deployer,
}

impl Projects {
    pub(crate) fn new(
        db: Database,
        workspaces: Workspaces,
        previews: Option<Arc<Previews>>,
        deployer: Deployer,
    ) -> Self {
        Self { db, workspaces, previews, deployer }
    }

    /// Creates a project of `owner`'s (a new uuid when no id is given, "Untitled" when no name);
    /// creating one of the owner's own again returns it. `true` when it is new.
    pub(crate) async fn create(
        &self,
        owner: &str,
        id: Option<String>,
        name: Option<String>,
    ) -> Result<(Project, bool), ProjectError> {
        let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        check_id(&id)?;
        let name = name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).unwrap_or_else(|| "Untitled".into());
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(ProjectError::NameTooLong);
        }
        store::create(&self.db, owner, &id, &name).await
    }

    /// The project `id` of `owner`'s, created ("Untitled") if nobody has it: the routes that take
    /// a project id in their body start a project as they name it.
    pub(crate) async fn claim(&self, owner: &str, id: &str) -> Result<(), ProjectError> {
        check_id(id)?;
        // A read first: most calls name a project that exists, and a write costs a commit.
        if store::get(&self.db, owner, id).await?.is_none() {
            store::create(&self.db, owner, id, "Untitled").await?;
        }
        Ok(())
    }

    /// An existing project of `owner`'s.
    pub(crate) async fn owned(&self, owner: &str, id: &str) -> Result<Project, ProjectError> {
        check_id(id)?;
        store::get(&self.db, owner, id).await?.ok_or(ProjectError::NotFound)
    }

    /// Any project and its owner's id, for operators.
    pub(crate) async fn with_owner(&self, id: &str) -> Result<(Project, String), ProjectError> {
        check_id(id)?;
        store::owner_of(&self.db, id).await?.ok_or(ProjectError::NotFound)
    }

    pub(crate) async fn list(&self, owner: &str) -> Result<Vec<Project>, ProjectError> {
        Ok(store::list(&self.db, owner).await?)
    }

    /// Removes the project and everything of it. Everything goes before its record: the id is
    /// free for anyone to take again only once nothing of the old project is left for them to
    /// find. A part that cannot be removed is logged, not returned: the user asked for the
    /// project to be gone.
    pub(crate) async fn remove(&self, owner: &str, id: &str) -> Result<(), ProjectError> {
        self.owned(owner, id).await?;
        // The sandbox first: stopping it takes the project's turn itself.
        if let Some(previews) = &self.previews
            && let Err(e) = previews.forget(id).await
        {
            tracing::warn!(project = %id, "the deleted project's sandbox or files could not be removed: {e}");
        }
        // After a deploy, a run or a git operation in flight, which would otherwise leave files behind.
        let _turn = self.workspaces.lock(id).await.map_err(|e| ProjectError::Turn(e.to_string()))?;
        self.deployer.forget(id).await;
        if let Err(e) = self.workspaces.remove(id) {
            tracing::warn!(project = %id, "the deleted project's files could not be removed: {e}");
        }
        if !store::delete(&self.db, owner, id).await? {
            return Err(ProjectError::NotFound);
        }
        Ok(())
    }
}
