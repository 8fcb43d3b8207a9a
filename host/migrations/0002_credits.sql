-- Every movement of credits, so balances can be audited: a reservation before a model call, its
-- settlement after, grants by an operator. `amount` is signed micro-credits (negative = spent).

CREATE TABLE credit_ledger (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    run_id TEXT,
    kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    model TEXT,
    prompt_tokens BIGINT,
    completion_tokens BIGINT,
    reason TEXT,
    created_at BIGINT NOT NULL
);

CREATE INDEX credit_ledger_by_user ON credit_ledger (user_id, created_at);
