//! One parser per request type, from plain strings as a query string, a form or a command line
//! gives them: a scrub's parameters and a check's. Each refusal names its field.

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;

use super::error::{AppError, ErrorCode};
use crate::domain::{Channel, ContactKind};
use crate::scrub::engine::{self, ContactDateError, Request};
use crate::scrub::input::{self, ColumnNames, MailLevel};
use crate::scrub::Mode;

/// How a list is to be scrubbed, as given (`POST /v1/scrubs`'s query, `suppress scrub`'s flags).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrubParams {
    pub channel: String,
    pub contact_date: Option<String>,
    pub mode: Option<String>,
    /// The scrub's name, kept with a stored result.
    pub name: Option<String>,
    pub delimiter: Option<String>,
    pub phone_column: Option<String>,
    pub email_column: Option<String>,
    pub postcode_column: Option<String>,
    pub surname_column: Option<String>,
    /// Address line columns, comma-separated.
    pub address_columns: Option<String>,
    pub mail_level: Option<String>,
}

impl ScrubParams {
    /// The engine's request, or what is wrong with the parameters (the name included).
    pub fn request(&self) -> Result<Request, AppError> {
        let request = Request {
            channel: channel(&self.channel, "channel")?,
            contact_date: day_to_come("contact_date", self.contact_date.as_deref())?,
            mode: mode(self.mode.as_deref())?,
            delimiter: self
                .delimiter
                .as_deref()
                .map(input::delimiter)
                .transpose()
                .map_err(|e| AppError::field(ErrorCode::InvalidDelimiter, "delimiter", e))?,
            columns: ColumnNames {
                phone: self.phone_column.clone(),
                email: self.email_column.clone(),
                postcode: self.postcode_column.clone(),
                surname: self.surname_column.clone(),
                address: self.address_columns.as_ref().map(|a| a.split(',').map(|s| s.trim().to_owned()).collect()),
                mail_level: self
                    .mail_level
                    .as_deref()
                    .map(str::parse)
                    .transpose()
                    .map_err(|e: String| AppError::field(ErrorCode::InvalidMailLevel, "mail_level", e))?
                    .unwrap_or_default(),
            },
        };
        crate::domain::text::check_opt("name", self.name.as_deref(), crate::domain::text::NAME)?;
        // A surname named for a list judged at household level would be silently unused.
        if request.columns.mail_level == MailLevel::Household && request.columns.surname.is_some() {
            return Err(AppError::field(
                ErrorCode::InvalidMailLevel,
                "surname_column",
                "surname_column names a surname, but mail_level=household judges every row at household level: send one or the other",
            ));
        }
        Ok(request)
    }
}

/// What every check asks, validated: a phone channel, a day still to come, a mode.
#[derive(Debug, Clone)]
pub struct Question {
    pub channel: Channel,
    pub date: NaiveDate,
    pub mode: Mode,
}

impl Question {
    /// A check's parameters (`GET /v1/check`'s query, `POST /v1/check`'s body).
    pub fn parse(channel_given: &str, date: Option<&str>, mode_given: Option<&str>) -> Result<Question, AppError> {
        let channel = channel(channel_given, "channel")?;
        if channel.contact_kind() != ContactKind::Phone {
            return Err(AppError::field(
                ErrorCode::InvalidChannel,
                "channel",
                format!("a check is about a phone number: channel must be call or sms, not {channel}"),
            ));
        }
        Ok(Question { channel, date: day_to_come("date", date)?, mode: mode(mode_given)? })
    }
}

/// A channel, named in `field`.
pub fn channel(given: &str, field: &str) -> Result<Channel, AppError> {
    given.parse().map_err(|e: String| AppError::field(ErrorCode::InvalidChannel, field, e))
}

/// strict (the default) or statutory.
pub fn mode(given: Option<&str>) -> Result<Mode, AppError> {
    Ok(given.map(str::parse).transpose().map_err(|e: String| AppError::field(ErrorCode::InvalidMode, "mode", e))?.unwrap_or_default())
}

/// The day a scrub's list or a check is for: the given ISO date, or today (UK). A day gone is
/// refused (CONTRACT §5, §6): it would be answered by rules (statutory grace) that no longer hold
/// for any contact made now.
pub fn day_to_come(field: &str, given: Option<&str>) -> Result<NaiveDate, AppError> {
    engine::contact_date(given).map_err(|e| match e {
        ContactDateError::Past { date, today } => {
            let message = if field == "date" {
                format!("date {date} is before today ({today} in UK time): a check is for a day still to come")
            } else {
                e.to_string()
            };
            AppError::new(ErrorCode::DateInPast, message).details(json!({ "field": field, "today": today }))
        }
        ContactDateError::Invalid(_) => AppError::field(ErrorCode::InvalidDate, field, e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each parameter's refusal carries its own code and names its field.
    #[test]
    fn refusals_name_their_field() {
        let code_field = |e: AppError| (e.code, e.details["field"].as_str().map(str::to_owned));
        let p = |f: fn(&mut ScrubParams)| {
            let mut p = ScrubParams { channel: "call".into(), ..ScrubParams::default() };
            f(&mut p);
            p.request().map(|_| ()).map_err(code_field)
        };
        assert!(p(|_| {}).is_ok());
        assert_eq!(p(|p| p.channel = "fax".into()), Err((ErrorCode::InvalidChannel, Some("channel".into()))));
        assert_eq!(p(|p| p.contact_date = Some("2020-01-01".into())), Err((ErrorCode::DateInPast, Some("contact_date".into()))));
        assert_eq!(p(|p| p.contact_date = Some("tomorrow".into())), Err((ErrorCode::InvalidDate, Some("contact_date".into()))));
        assert_eq!(p(|p| p.mode = Some("lax".into())), Err((ErrorCode::InvalidMode, Some("mode".into()))));
        assert_eq!(p(|p| p.delimiter = Some("|".into())), Err((ErrorCode::InvalidDelimiter, Some("delimiter".into()))));
        assert_eq!(p(|p| p.mail_level = Some("street".into())), Err((ErrorCode::InvalidMailLevel, Some("mail_level".into()))));
        assert_eq!(
            p(|p| {
                p.mail_level = Some("household".into());
                p.surname_column = Some("Last Name".into());
            }),
            Err((ErrorCode::InvalidMailLevel, Some("surname_column".into())))
        );
        let cols = ScrubParams { channel: "mail".into(), address_columns: Some("line 1, line 2".into()), ..ScrubParams::default() };
        assert_eq!(cols.request().ok().and_then(|r| r.columns.address), Some(vec!["line 1".to_owned(), "line 2".to_owned()]));
        let q = |c: &str, d: Option<&str>| Question::parse(c, d, None).map(|_| ()).map_err(code_field);
        assert!(q("sms", None).is_ok());
        assert_eq!(q("mail", None), Err((ErrorCode::InvalidChannel, Some("channel".into()))));
        assert_eq!(q("call", Some("2020-01-01")), Err((ErrorCode::DateInPast, Some("date".into()))));
    }
}
