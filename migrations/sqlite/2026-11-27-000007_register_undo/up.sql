-- Undo (CONTRACT §4): what an entry was before each import, so the snapshot before any import
-- can be rebuilt whole. `added`: 1 added, 0 removed, 2 kept with another listed_since/deceased
-- (MPS). For removed and kept rows, `listed_since` and `deceased` are the entry as it was.
ALTER TABLE register_changes ADD COLUMN listed_since DATE;
ALTER TABLE register_changes ADD COLUMN deceased INTEGER NOT NULL DEFAULT 0;
-- An undo is a row of kind 'undo' naming the import it undid (whose status becomes 'undone').
ALTER TABLE register_imports ADD COLUMN undoes BIGINT;
DROP INDEX register_imports_applied_file;
CREATE UNIQUE INDEX register_imports_applied_file ON register_imports (register, file_sha256, as_of) WHERE status = 'applied' AND kind <> 'undo';
