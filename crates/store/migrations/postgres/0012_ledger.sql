-- The double-entry ledger: each movement of money is one transaction of
-- postings that sum to zero (domain/ledger.rs). An account is a kind and
-- its owner: FAN (the user), TOP_UPS (0), REVENUE and FEES (the concert).
-- The key makes posting one movement twice to an account impossible.
CREATE TABLE ledger_posting (
    transaction_id TEXT   NOT NULL,
    account_kind   TEXT   NOT NULL CHECK (account_kind IN ('FAN', 'TOP_UPS', 'REVENUE', 'FEES')),
    account_owner  BIGINT NOT NULL,
    amount         BIGINT NOT NULL CHECK (amount <> 0),
    created_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (transaction_id, account_kind, account_owner)
);
CREATE INDEX ledger_posting_by_account ON ledger_posting (account_kind, account_owner);

-- What was recorded before the ledger, posted as it would have been.
INSERT INTO ledger_posting (transaction_id, account_kind, account_owner, amount, created_at_ms)
SELECT 'top-up:' || reference, 'TOP_UPS', 0, -amount, created_at_ms FROM balance_entry WHERE kind = 'CHARGE';
INSERT INTO ledger_posting (transaction_id, account_kind, account_owner, amount, created_at_ms)
SELECT 'top-up:' || reference, 'FAN', user_id, amount, created_at_ms FROM balance_entry WHERE kind = 'CHARGE';
INSERT INTO ledger_posting (transaction_id, account_kind, account_owner, amount, created_at_ms)
SELECT 'sale:' || id, 'FAN', user_id, -price, confirmed_at_ms FROM reservation;
INSERT INTO ledger_posting (transaction_id, account_kind, account_owner, amount, created_at_ms)
SELECT 'sale:' || id, 'REVENUE', concert_id, price, confirmed_at_ms FROM reservation;
INSERT INTO ledger_posting (transaction_id, account_kind, account_owner, amount, created_at_ms)
SELECT 'cancellation:' || id, 'REVENUE', concert_id, -price, cancelled_at_ms FROM reservation
 WHERE status = 'CANCELLED';
INSERT INTO ledger_posting (transaction_id, account_kind, account_owner, amount, created_at_ms)
SELECT 'cancellation:' || id, 'FAN', user_id, refund, cancelled_at_ms FROM reservation
 WHERE status = 'CANCELLED' AND refund > 0;
INSERT INTO ledger_posting (transaction_id, account_kind, account_owner, amount, created_at_ms)
SELECT 'cancellation:' || id, 'FEES', concert_id, fee, cancelled_at_ms FROM reservation
 WHERE status = 'CANCELLED' AND fee > 0;
