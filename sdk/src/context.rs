//! Who runs the app, where and when.

use crate::bindings::scenario::zhiyun::app::context as wit_context;
use crate::{Date, Invocation};

/// Facts about the current invocation: user, org, locale, the host's "now".
///
/// Not cached on purpose: it is one cheap host call, and caching it in a
/// static would leak one user's context into the next invocation should the
/// host ever reuse an instance.
pub fn context() -> Invocation {
    wit_context::current()
}

/// Microseconds per day.
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// China Standard Time is UTC+8 all year (no daylight saving).
const CST_OFFSET_MICROS: i64 = 8 * 3_600_000_000;

impl Invocation {
    /// Whether the user reads English (`locale` starts with `en`); zh-CN otherwise.
    pub fn is_english(&self) -> bool {
        self.locale.starts_with("en")
    }

    /// Picks the label for the user's locale: `ctx.tr("账户余额", "Balance")`.
    pub fn tr<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        if self.is_english() { en } else { zh }
    }

    /// Today's date in China Standard Time (UTC+8), from the host's clock.
    pub fn today(&self) -> Date {
        Date::from_days((self.now + CST_OFFSET_MICROS).div_euclid(MICROS_PER_DAY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(locale: &str, now: i64) -> Invocation {
        Invocation {
            user_id: "u".into(),
            user_name: "u".into(),
            org_id: "3300".into(),
            org_name: "示范市供电公司".into(),
            locale: locale.into(),
            now,
            app_id: "a".into(),
            app_version: "0.1.0".into(),
            request_id: "r".into(),
        }
    }

    #[test]
    fn picks_labels_by_locale() {
        assert_eq!(invocation("zh-CN", 0).tr("余额", "Balance"), "余额");
        assert_eq!(invocation("en-US", 0).tr("余额", "Balance"), "Balance");
    }

    #[test]
    fn today_is_in_china_standard_time() {
        // 2026-11-30T16:00:00Z is already 2026-12-01 in Beijing.
        let utc_16h = Date::new(2026, 11, 30).to_days() * MICROS_PER_DAY + 16 * 3_600_000_000;
        assert_eq!(invocation("zh-CN", utc_16h).today(), Date::new(2026, 12, 1));
        assert_eq!(
            invocation("zh-CN", utc_16h - 1).today(),
            Date::new(2026, 11, 30)
        );
    }
}
