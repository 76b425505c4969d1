DROP TABLE register_listings; DROP TABLE register_changes; DROP TABLE register_snapshots; DROP TABLE register_imports;
