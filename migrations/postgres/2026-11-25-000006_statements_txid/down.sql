DROP FUNCTION statements_since(text);
DROP INDEX statements_txid;
ALTER TABLE statements DROP COLUMN txid;
