//! Integration tests: the real app over HTTP, the real binary, a real database (SQLite, or
//! PostgreSQL when TEST_DATABASE_URL is set).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test
mod helpers;

mod access;
mod browser;
mod check;
mod cli;
mod email;
mod errors;
mod hostile;
mod pages;
mod pages_admin;
mod pages_lists;
mod pages_people;
mod preferences;
mod registers;
mod scrub;
mod storage;
mod unsubscribe;
mod wire;
