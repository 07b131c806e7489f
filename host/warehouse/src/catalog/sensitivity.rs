//! Sensitivity levels and their suggestion from a column's name, its
//! description and sampled values (see the [module docs](super)).

use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// How carefully a column's values must be handled, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 公开: may be shown to anyone (only ever set by an admin).
    Public,
    /// 内部: business data for staff with access to the dataset (the default).
    Internal,
    /// 敏感: personal information that identifies or reaches a person, or
    /// money of one person: names, phone numbers, e-mail, addresses, bank
    /// account numbers, salaries.
    Sensitive,
    /// 机密: 敏感个人信息 in the sense of the PIPL — identity-document
    /// numbers, personal bank-card numbers — and credentials.
    Secret,
}

impl Level {
    pub const ALL: [Level; 4] = [
        Level::Public,
        Level::Internal,
        Level::Sensitive,
        Level::Secret,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Public => "public",
            Level::Internal => "internal",
            Level::Sensitive => "sensitive",
            Level::Secret => "secret",
        }
    }

    /// 0 (public) … 3 (secret), as stored for comparisons in SQL.
    pub fn rank(self) -> i64 {
        self as i64
    }

    /// Accepts the English names and the Chinese ones (公开, 内部, 敏感, 机密).
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "public" | "公开" => Some(Level::Public),
            "internal" | "内部" => Some(Level::Internal),
            "sensitive" | "敏感" => Some(Level::Sensitive),
            "secret" | "机密" => Some(Level::Secret),
            _ => None,
        }
    }
}

/// What a column was recognised as holding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    IdCard,
    BankCard,
    BankAccount,
    Credential,
    Mobile,
    Phone,
    Email,
    PersonName,
    Address,
    Salary,
    BirthDate,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::IdCard => "id_card",
            Kind::BankCard => "bank_card",
            Kind::BankAccount => "bank_account",
            Kind::Credential => "credential",
            Kind::Mobile => "mobile",
            Kind::Phone => "phone",
            Kind::Email => "email",
            Kind::PersonName => "person_name",
            Kind::Address => "address",
            Kind::Salary => "salary",
            Kind::BirthDate => "birth_date",
        }
    }

    pub fn level(self) -> Level {
        match self {
            Kind::IdCard | Kind::BankCard | Kind::Credential => Level::Secret,
            _ => Level::Sensitive,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::IdCard => "居民身份证号 (ID number)",
            Kind::BankCard => "bank card number",
            Kind::BankAccount => "bank account number",
            Kind::Credential => "credential",
            Kind::Mobile => "mobile number",
            Kind::Phone => "phone number",
            Kind::Email => "e-mail address",
            Kind::PersonName => "person's name",
            Kind::Address => "address",
            Kind::Salary => "salary / personal income",
            Kind::BirthDate => "date of birth",
        }
    }
}

/// The suggestion for one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    pub level: Level,
    pub kind: Option<Kind>,
    pub reason: String,
}

/// Name rules: a regex on the snake-case column name (matched on whole
/// `_`-separated words) and keywords looked for in the description.
struct NameRule {
    kind: Kind,
    name: &'static str,
    description: &'static [&'static str],
}

const NAME_RULES: &[NameRule] = &[
    NameRule {
        kind: Kind::IdCard,
        name: r"id_?card|idcard_no|id_?no|id_number|sfzh?|sfz_?hm|cert_?no|certificate_no|identity|passport",
        description: &["身份证", "证件号", "护照"],
    },
    NameRule {
        kind: Kind::Credential,
        name: r"password|passwd|pwd|secret|token|api_key|private_key",
        description: &["密码", "密钥", "口令"],
    },
    NameRule {
        kind: Kind::BankCard,
        name: r"bank_?card(_no)?|card_no|card_number|yhkh",
        description: &["银行卡", "工资卡", "卡号"],
    },
    NameRule {
        kind: Kind::BankAccount,
        name: r"bank_?acc?t(_no)?|bank_?account|acc?t_no|account_no|acct|yhzh|payee_acct|from_acct",
        description: &["账号", "帐号", "银行账户"],
    },
    NameRule {
        kind: Kind::Mobile,
        name: r"mobile|mobile_no|cellphone|cell|sjhm|shouji",
        description: &["手机"],
    },
    NameRule {
        kind: Kind::Phone,
        name: r"phone|phone_no|tel|telephone|lxdh|fax",
        description: &["电话", "联系方式", "传真"],
    },
    NameRule {
        kind: Kind::Email,
        name: r"e?mail|email_address",
        description: &["邮箱", "电子邮件"],
    },
    NameRule {
        kind: Kind::PersonName,
        name: r"person_name|real_name|full_name|emp_name|staff_name|contact|contact_name|contact_person|linkman|xm|xingming|payee_name|holder_name",
        description: &["姓名", "联系人", "户主"],
    },
    NameRule {
        kind: Kind::Address,
        name: r"address|addr|home_address|dz",
        description: &["地址", "住址", "住所"],
    },
    NameRule {
        kind: Kind::Salary,
        name: r"salary|wage|wages|payroll|bonus|iit|income_tax|social_ins|housing_fund|gjj",
        description: &[
            "工资",
            "薪酬",
            "薪资",
            "奖金",
            "个税",
            "个人所得税",
            "社保",
            "公积金",
        ],
    },
    NameRule {
        kind: Kind::BirthDate,
        name: r"birthday|birth_date|date_of_birth|birth|csrq",
        description: &["出生"],
    },
];

static NAME_REGEXES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    NAME_RULES
        .iter()
        .map(|r| {
            Regex::new(&format!("(?:^|_)(?:{})(?:_|$)", r.name))
                .expect("the name rules are valid regexes")
        })
        .collect()
});

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
        .expect("valid regex")
});

/// Why a name or description suggests a kind, if it does.
fn by_name(column: &str, description: &str) -> Option<(Kind, String)> {
    let lower = column.to_ascii_lowercase();
    for (rule, regex) in NAME_RULES.iter().zip(NAME_REGEXES.iter()) {
        if regex.is_match(&lower) {
            return Some((
                rule.kind,
                format!("name: column {column:?} looks like a {}", rule.kind.label()),
            ));
        }
        if let Some(word) = rule.description.iter().find(|w| description.contains(*w)) {
            return Some((
                rule.kind,
                format!(
                    "description: {description:?} mentions {word} ({})",
                    rule.kind.label()
                ),
            ));
        }
    }
    None
}

/// Counts of sensitive values found in a column's sample.
#[derive(Debug, Default, Clone)]
pub struct ValueScan {
    pub non_empty: u64,
    pub id_card: u64,
    pub mobile: u64,
    pub bank_card: u64,
    pub bank_account: u64,
    pub email: u64,
    /// One example per kind, masked.
    examples: Vec<(Kind, String)>,
}

/// At least this share of the non-empty sampled values must hit for a
/// value-based suggestion (and at least one value).
pub const MIN_SHARE: f64 = 0.01;

impl ValueScan {
    /// Looks at one sampled value.
    pub fn add(&mut self, value: &str) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        self.non_empty += 1;
        let mut id = false;
        let mut mobile = false;
        for (start, run) in digit_runs(value) {
            let bytes = run.as_bytes();
            // An ID number: 17 digits and a check character (digit or X).
            if bytes.len() == 18
                || (bytes.len() == 17 && value[start + 17..].starts_with(['X', 'x']))
            {
                let candidate = &value[start..start + 18];
                if is_id_card(candidate) {
                    id = true;
                    self.example(Kind::IdCard, candidate);
                    continue;
                }
            }
            if bytes.len() == 11 && bytes[0] == b'1' && (b'3'..=b'9').contains(&bytes[1]) {
                mobile = true;
                self.example(Kind::Mobile, run);
            }
        }
        if id {
            self.id_card += 1;
        }
        if mobile {
            self.mobile += 1;
        }
        // Bank numbers only as the whole value (spaces and dashes allowed):
        // 16–19 digit runs inside codes such as V2026010100000001 are not accounts.
        if !id {
            let digits: String = value.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
            if (16..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
                if luhn(&digits) {
                    self.bank_card += 1;
                    self.example(Kind::BankCard, &digits);
                } else {
                    self.bank_account += 1;
                    self.example(Kind::BankAccount, &digits);
                }
            }
        }
        if value.contains('@')
            && let Some(m) = EMAIL.find(value)
        {
            self.email += 1;
            self.example(Kind::Email, m.as_str());
        }
    }

    fn example(&mut self, kind: Kind, value: &str) {
        if !self.examples.iter().any(|(k, _)| *k == kind) {
            self.examples.push((kind, mask(value)));
        }
    }

    /// The strongest kind found often enough, with the reason.
    fn verdict(&self) -> Option<(Kind, String)> {
        let candidates = [
            (
                Kind::IdCard,
                self.id_card,
                "with a valid GB 11643 check digit and birth date",
            ),
            (
                Kind::BankCard,
                self.bank_card,
                "16–19 digits passing the Luhn check",
            ),
            (
                Kind::Mobile,
                self.mobile,
                "matching 1[3-9] and 9 more digits",
            ),
            (Kind::BankAccount, self.bank_account, "16–19 digits"),
            (Kind::Email, self.email, "addresses"),
        ];
        let needed = ((self.non_empty as f64 * MIN_SHARE).ceil() as u64).max(1);
        candidates
            .into_iter()
            .filter(|(_, hits, _)| *hits >= needed)
            .max_by_key(|(kind, hits, _)| (kind.level(), *hits))
            .map(|(kind, hits, how)| {
                let example = self
                    .examples
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .map_or(String::new(), |(_, e)| format!(", e.g. {e}"));
                (
                    kind,
                    format!(
                        "values: {hits} of {} sampled non-empty values hold a {} ({how}){example}",
                        self.non_empty,
                        kind.label()
                    ),
                )
            })
    }
}

/// Maximal runs of ASCII digits, with their byte offsets.
fn digit_runs(s: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() && !bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        Some((start, &s[start..i]))
    })
}

/// A 居民身份证号 (GB 11643-1999): 17 digits, an ISO 7064 MOD 11-2 check
/// character, and a real birth date (1900 onwards) in digits 7–14.
pub fn is_id_card(s: &str) -> bool {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const C: &[u8; 11] = b"10X98765432";
    let b = s.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    if b[17].to_ascii_uppercase() != C[(sum % 11) as usize] {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
    let (y, m, d) = (num(6..10), num(10..12), num(12..14));
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    (1900..=2100).contains(&y) && d >= 1 && d <= days && b[0] != b'0'
}

/// The Luhn (mod 10) check most bank cards carry.
pub fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

/// Keeps the first 4 and last 4 characters: `3301**********1234`.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars[..4]
        .iter()
        .chain(std::iter::repeat_n(&'*', n - 8))
        .chain(chars[n - 4..].iter())
        .collect()
}

/// The suggestion for a column from its name, description and value scan
/// (`None` when its values were not sampled). The strongest finding wins;
/// with none the column is `internal`.
pub fn suggest(column: &str, description: &str, values: Option<&ValueScan>) -> Suggestion {
    let named = by_name(column, description);
    let valued = values.and_then(ValueScan::verdict);
    let best = match (named, valued) {
        (Some(n), Some(v)) => {
            if v.0.level() > n.0.level() {
                Some((v.0, format!("{}; also {}", v.1, n.1)))
            } else {
                Some((n.0, format!("{}; also {}", n.1, v.1)))
            }
        }
        (n, v) => n.or(v),
    };
    match best {
        Some((kind, reason)) => Suggestion {
            level: kind.level(),
            kind: Some(kind),
            reason,
        },
        None => Suggestion {
            level: Level::Internal,
            kind: None,
            reason: if values.is_some_and(|v| v.non_empty > 0) {
                "default: neither the name, the description nor the sampled values look personal"
                    .into()
            } else {
                "default: neither the name nor the description looks personal (no values sampled)"
                    .into()
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(values: &[&str]) -> ValueScan {
        let mut s = ValueScan::default();
        for v in values {
            s.add(v);
        }
        s
    }

    #[test]
    fn ids() {
        assert!(is_id_card("11010519491231002X"));
        assert!(!is_id_card("110105194912310021"));
        assert!(!is_id_card("110105194913310029")); // month 13
        assert!(luhn("4111111111111111"));
        assert!(!luhn("4111111111111112"));
        assert_eq!(mask("11010519491231002X"), "1101**********002X");
    }

    #[test]
    fn values_under_innocuous_names() {
        let s = suggest(
            "remark",
            "备注",
            Some(&scan(&["", "客户身份证 11010519491231002X", "x"])),
        );
        assert_eq!(
            (s.level, s.kind),
            (Level::Secret, Some(Kind::IdCard)),
            "{s:?}"
        );
        let s = suggest("contact", "", Some(&scan(&["张三 13812345678"])));
        assert_eq!(s.kind, Some(Kind::PersonName)); // named contact; the phone is mentioned too
        assert!(s.reason.contains("mobile"), "{}", s.reason);
        let s = suggest("note", "", Some(&scan(&["13812345678", "n/a"])));
        assert_eq!(s.kind, Some(Kind::Mobile));
        let s = suggest("note", "", Some(&scan(&["110105194912310021"])));
        assert_ne!(s.kind, Some(Kind::IdCard), "{s:?}");
        let s = suggest("ref", "", Some(&scan(&["V2026010100000001"])));
        assert_eq!(s.level, Level::Internal, "{s:?}");
        let s = suggest("x", "", Some(&scan(&["a.b@example.com"])));
        assert_eq!(s.kind, Some(Kind::Email));
    }

    #[test]
    fn names() {
        assert_eq!(suggest("id_card_no", "", None).kind, Some(Kind::IdCard));
        assert_eq!(suggest("sfzh", "", None).kind, Some(Kind::IdCard));
        assert_eq!(suggest("bank_acct", "", None).kind, Some(Kind::BankAccount));
        assert_eq!(
            suggest("cust_no", "用户编号（户号）", None).level,
            Level::Internal
        );
        assert_eq!(suggest("name", "姓名", None).kind, Some(Kind::PersonName));
        assert_eq!(suggest("name", "供应商名称", None).level, Level::Internal);
        assert_eq!(suggest("period", "", None).level, Level::Internal);
        assert_eq!(suggest("hotel", "", None).level, Level::Internal);
    }
}
