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

diesel::table! {
    register_imports (id) {
        id -> BigInt,
        register -> Text,
        as_of -> Date,
        kind -> Text,
        file_sha256 -> Text,
        status -> Text,
        error -> Nullable<Text>,
        records -> BigInt,
        added -> BigInt,
        removed -> BigInt,
        unchanged -> BigInt,
        rejected -> BigInt,
        entries_after -> BigInt,
        duration_ms -> BigInt,
        imported_at -> Timestamp,
        report -> Text,
        undoes -> Nullable<BigInt>,
    }
}

diesel::table! {
    register_snapshots (register) {
        register -> Text,
        import_id -> BigInt,
        as_of -> Date,
        entries -> BigInt,
        file_sha256 -> Text,
        imported_at -> Timestamp,
        numbers -> Binary,
    }
}

diesel::table! {
    register_changes (import_id, number) {
        import_id -> BigInt,
        number -> BigInt,
        added -> Integer,
        listed_since -> Nullable<Date>,
        deceased -> Integer,
    }
}

diesel::table! {
    register_listings (register, number) {
        register -> Text,
        number -> BigInt,
        listed_since -> Date,
    }
}
diesel::table! {
    scrubs (id) {
        id -> BigInt,
        created_at -> Timestamp,
        name -> Nullable<Text>,
        channel -> Text,
        created_by -> Text,
        summary -> Text,
        results_expire_at -> Timestamp,
        state -> Text,
    }
}

diesel::table! {
    scrub_results (scrub_id, seq) {
        scrub_id -> BigInt,
        seq -> Integer,
        data -> Binary,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        name -> Text,
        role -> Text,
        email -> Nullable<Text>,
        password_hash -> Text,
        must_change_password -> Bool,
        created_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> BigInt,
        csrf -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    sign_in_failures (id) {
        id -> BigInt,
        name -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    server_secret (id) {
        id -> Integer,
        secret -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        kind -> Text,
        recipients -> Text,
        to_masked -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        params -> Nullable<Text>,
        unsubscribe_url -> Nullable<Text>,
        message_id -> Text,
        dedupe -> Nullable<Text>,
        created_at -> Timestamp,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        leased_by -> Nullable<Text>,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    statements,
    register_imports,
    register_snapshots,
    register_changes,
    register_listings,
    scrubs,
    scrub_results,
    users,
    sessions,
    sign_in_failures,
    server_secret,
    outbox
);
