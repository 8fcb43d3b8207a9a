//! What credits cost and what a new user starts with.

use clap::Args;

use super::Price;

/// Where balances live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CreditStore {
    /// The host's own tables (`users`, `credit_ledger`), in its database.
    Builtin,
    /// The frontend's tables (`users_credits`, `credit_transactions`) in its Supabase PostgreSQL.
    Supabase,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct CreditSettings {
    /// `builtin`: the host's own tables; `supabase`: the frontend's `users_credits` and
    /// `credit_transactions`, the balance its users see and buy.
    #[arg(long = "credits", env = "BLINK_CREDITS", value_enum, default_value_t = CreditStore::Builtin)]
    pub(crate) store: CreditStore,

    /// The frontend's database for `BLINK_CREDITS=supabase` (a `postgres://` URL of a role that may
    /// read and write `users_credits` and `credit_transactions`); default: `DATABASE_URL`.
    #[arg(long = "credits-database-url", env = "BLINK_CREDITS_DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,

    /// Micro-credits of the `users_credits` row the host creates for a user who has none
    /// (`BLINK_CREDITS=supabase`): the frontend creates 100 credits on a user's first visit.
    #[arg(long = "supabase-new-user-credits", env = "BLINK_SUPABASE_NEW_USER_CREDITS", default_value_t = 100_000_000)]
    pub(crate) supabase_new_user: i64,

    /// Credits a new user starts with, in micro-credits (1 credit = 1,000,000).
    #[arg(long = "starting-credits", env = "BLINK_STARTING_CREDITS", default_value_t = 10_000_000)]
    pub(crate) starting_credits: i64,

    /// Model prices in micro-credits per 1,000 tokens, as JSON:
    /// `{"default": {"prompt": 500, "completion": 1500}, "models": {"gpt-4o": {"prompt": 2500, "completion": 10000}}}`.
    #[arg(long, env = "BLINK_PRICING", value_parser = parse_pricing, default_value = DEFAULT_PRICING)]
    pub(crate) pricing: PricingSetting,

    /// When a balance cannot pay for a call's longest answer, the answer is capped at what it
    /// pays for; below this many tokens the call is refused (`insufficient_credits`) instead.
    #[arg(long, env = "BLINK_CREDITS_MIN_ANSWER_TOKENS", default_value_t = 256)]
    pub(crate) min_answer_tokens: u64,

    /// Micro-credits charged once per run that ends with an answer, on top of what its model
    /// calls cost (`BLINK_PRICING`); held from the run's start. `1000000` with zero token prices
    /// is the frontend edge function's "1 credit per run".
    #[arg(long, env = "BLINK_RUN_PRICE", default_value_t = 0)]
    pub(crate) run_price: i64,
}

const DEFAULT_PRICING: &str = r#"{"default": {"prompt": 500, "completion": 1500}}"#;

#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct PricingSetting {
    pub(crate) default: Price,
    #[serde(default)]
    pub(crate) models: std::collections::BTreeMap<String, Price>,
}

fn parse_pricing(s: &str) -> Result<PricingSetting, String> {
    let p: PricingSetting =
        serde_json::from_str(s).map_err(|e| format!("BLINK_PRICING is not valid pricing JSON: {e}"))?;
    let all = std::iter::once(&p.default).chain(p.models.values());
    if all.into_iter().any(|price| price.prompt < 0 || price.completion < 0) {
        return Err("prices cannot be negative".into());
    }
    Ok(p)
}
