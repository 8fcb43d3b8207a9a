//! What credits cost and what a new user starts with.

use clap::Args;

use super::Price;

#[derive(Debug, Clone, Args)]
pub(crate) struct CreditSettings {
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
