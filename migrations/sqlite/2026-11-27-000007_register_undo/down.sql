DROP INDEX register_imports_applied_file;
CREATE UNIQUE INDEX register_imports_applied_file ON register_imports (register, file_sha256, as_of) WHERE status = 'applied';
ALTER TABLE register_imports DROP COLUMN undoes;
ALTER TABLE register_changes DROP COLUMN deceased;
ALTER TABLE register_changes DROP COLUMN listed_since;
