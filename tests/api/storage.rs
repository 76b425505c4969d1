//! Storage: the two migration trees define the same tables and columns; the database URL picks
//! the backend.

use std::collections::BTreeMap;
use std::path::Path;

use diesel::sql_types::{Integer, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};

use crate::helpers::TestDb;

#[derive(QueryableByName, Debug)]
struct Col {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Integer)]
    not_null: i32,
}

type Schema = BTreeMap<String, Vec<(String, bool)>>;

fn collect(cols: Vec<Col>) -> Schema {
    let mut schema = Schema::new();
    for c in cols.into_iter().filter(|c| c.table_name != "__diesel_schema_migrations" && !c.table_name.starts_with("sqlite_")) {
        schema.entry(c.table_name).or_default().push((c.column_name, c.not_null != 0));
    }
    schema.values_mut().for_each(|v| v.sort());
    schema
}

fn sqlite_schema(path: &str) -> Schema {
    let mut conn = SqliteConnection::establish(path).unwrap();
    collect(
        diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name, (p.\"notnull\" OR p.pk) AS not_null \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'",
        )
        .load(&mut conn)
        .unwrap(),
    )
}

fn postgres_schema(url: &str) -> Schema {
    let mut conn = PgConnection::establish(url).unwrap();
    collect(
        diesel::sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name, \
             (CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END) AS not_null \
             FROM information_schema.columns WHERE table_schema = 'public'",
        )
        .load(&mut conn)
        .unwrap(),
    )
}

fn migration_names(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_two_migration_trees_have_the_same_migrations() {
    let sqlite = migration_names("migrations/sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, migration_names("migrations/postgres"));
}

#[test]
fn the_two_migration_trees_define_the_same_tables_and_columns() {
    let Some(admin) = std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("TEST_DATABASE_URL is not set: the PostgreSQL half of this comparison runs in the PostgreSQL pass");
        return;
    };
    let _ = admin;
    let pg = TestDb::new();
    suppress::store::Store::open(&pg.url, 2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite_path = dir.path().join("schema.db").to_string_lossy().into_owned();
    suppress::store::Store::open(&sqlite_path, 2).unwrap();
    let (s, mut p) = (sqlite_schema(&sqlite_path), postgres_schema(&pg.url));
    assert!(s.contains_key("statements") && s.contains_key("api_keys"), "{s:?}");
    // The one column only PostgreSQL needs, and it must be there: the writing transaction of each
    // statement, which instances catch up by (SQLite commits in id order; migration 000006).
    let statements = p.get_mut("statements").unwrap();
    let txid = statements.iter().position(|(c, _)| c == "txid").expect("statements.txid on PostgreSQL");
    assert_eq!(statements.remove(txid), ("txid".to_owned(), true));
    assert_eq!(s, p);
}

#[test]
fn a_new_sqlite_file_is_created_with_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deeper/still/new.db");
    suppress::store::Store::open(&format!("sqlite://{}", path.display()), 2).unwrap();
    assert!(path.exists());
}

#[test]
fn an_unknown_url_scheme_is_a_clear_error() {
    let err = suppress::store::Store::open("mysql://root@localhost/x", 2).err().unwrap().to_string();
    assert!(err.contains("mysql"), "{err}");
    assert!(!Path::new("mysql:").exists());
}
