//! Columns that hold an enum (channel, register, statement kind, source, role, import kind and
//! status, scrub state): read and written as their type, stored as its spelling (TEXT on both
//! backends). A row holding a value no variant spells is an error that names the value, never a
//! row skipped or a default; and a stored JSON document that does not parse is an error naming
//! its row, never a `null`.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

use super::QueryError;
use crate::domain::access::Role;
use crate::domain::channel::string_enum;
use crate::domain::{Channel, Register, Source, StatementKind};

string_enum!(
    /// What a row of the import history records: an import of a full or delta file, or an undo.
    ImportKind { Full => "full", Delta => "delta", Undo => "undo" }
);

string_enum!(
    /// What became of an import.
    ImportStatus { Applied => "applied", Failed => "failed", AlreadyImported => "already_imported", Undone => "undone" }
);

string_enum!(
    /// A scrub whose result is being written (listed nowhere), or one finished.
    ScrubState { Pending => "pending", Done => "done" }
);

/// Longest stretch of an unknown value quoted in an error (a damaged column may hold anything).
const QUOTED: usize = 32;

/// The variant a column's text spells exactly (what the store wrote: `as_str`), or an error
/// naming what it holds instead.
fn variant<T: Copy + 'static>(all: &[T], spell: fn(T) -> &'static str, what: &str, text: &str) -> deserialize::Result<T> {
    all.iter().copied().find(|v| spell(*v) == text).ok_or_else(|| {
        let shown: String = text.chars().take(QUOTED).collect();
        let names: Vec<&str> = all.iter().map(|v| spell(*v)).collect();
        format!("the database holds the {what} {shown:?}, which is none of: {}", names.join(", ")).into()
    })
}

macro_rules! text_columns {
    ($($t:ident => $what:literal),+ $(,)?) => {$(
        const _: () = {
            /// Stands for the type, for diesel's derives to write its `AsExpression` and
            /// `Queryable` impls.
            #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
            #[diesel(foreign_derive)]
            #[diesel(sql_type = Text)]
            #[allow(dead_code)]
            struct Column($t);
        };

        impl<DB: Backend> ToSql<Text, DB> for $t
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <str as ToSql<Text, DB>>::to_sql(self.as_str(), out)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $t
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                variant($t::ALL, $t::as_str, $what, &<String as FromSql<Text, DB>>::from_sql(bytes)?)
            }
        }
    )+};
}

text_columns!(
    Channel => "channel",
    Register => "register",
    StatementKind => "statement kind",
    Source => "source",
    Role => "role",
    ImportKind => "import kind",
    ImportStatus => "import status",
    ScrubState => "scrub state",
);

/// A stored JSON document that does not parse: the database was damaged or edited by hand.
#[derive(Debug, thiserror::Error)]
#[error("the {column} stored in {table} row {id} is not valid JSON: {error}")]
pub struct CorruptJson {
    pub table: &'static str,
    pub id: i64,
    pub column: &'static str,
    pub error: serde_json::Error,
}

/// A JSON column's document, or an error naming its row.
pub(crate) fn json(table: &'static str, id: i64, column: &'static str, text: &str) -> Result<serde_json::Value, QueryError> {
    serde_json::from_str(text).map_err(|error| QueryError::DeserializationError(Box::new(CorruptJson { table, id, column, error })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_reads_only_what_the_store_writes() {
        for c in Channel::ALL {
            assert_eq!(variant(Channel::ALL, Channel::as_str, "channel", c.as_str()).ok(), Some(*c));
        }
        assert_eq!(
            variant(ImportStatus::ALL, ImportStatus::as_str, "import status", "already_imported").ok(),
            Some(ImportStatus::AlreadyImported)
        );
        // Another spelling is not what the store wrote: an error, not a guess.
        for odd in ["fax", "CALL", " call", ""] {
            let e = variant(Channel::ALL, Channel::as_str, "channel", odd).err().map(|e| e.to_string());
            assert_eq!(
                e.as_deref(),
                Some(format!("the database holds the channel {odd:?}, which is none of: call, sms, mail, email").as_str())
            );
        }
        // A long value is quoted in part.
        let e = variant(Role::ALL, Role::as_str, "role", &"x".repeat(500)).expect_err("not a role").to_string();
        assert!(e.contains(&"x".repeat(QUOTED)) && !e.contains(&"x".repeat(QUOTED + 1)), "{e}");
    }

    #[test]
    fn corrupt_json_names_its_row() {
        assert_eq!(json("scrubs", 7, "summary", r#"{"rows": 3}"#).ok(), Some(serde_json::json!({"rows": 3})));
        let e = json("scrubs", 7, "summary", r#"{"rows": 3"#).expect_err("not JSON").to_string();
        assert!(e.contains("the summary stored in scrubs row 7 is not valid JSON"), "{e}");
        assert!(json("register_imports", 12, "report", "").is_err());
    }
}
