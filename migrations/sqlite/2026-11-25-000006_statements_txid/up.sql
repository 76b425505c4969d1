-- Nothing to add on SQLite: it commits one writer at a time, so statement ids commit in order and
-- an instance catches up by id alone (store/statements.rs `since`). The PostgreSQL tree adds the
-- writing transaction's id to each statement.
SELECT 1;
