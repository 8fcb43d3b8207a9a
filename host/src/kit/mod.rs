//! The plugin authors' kit: a new agent project from a template ([`new`]), and a component tried
//! offline in the host's own runtime ([`trial`]).

pub(crate) mod new;
pub(crate) mod trial;

pub use self::new::Lang;
