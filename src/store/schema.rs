//! The diesel schema, one for both backends (types both map: BigInt, Text, Timestamp).

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        name -> Text,
        role -> Text,
        key_hash -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    statements (id) {
        id -> BigInt,
        contact_key -> Text,
        channel -> Text,
        kind -> Text,
        recorded_at -> Timestamp,
        source -> Text,
        recorded_by -> Nullable<Text>,
        recorded_via -> Text,
        note -> Nullable<Text>,
        evidence -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(api_keys, statements);
