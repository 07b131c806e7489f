//! Plausible values: Chinese personal and company names, 身份证号 with a
//! valid check digit, 统一社会信用代码, mobile and bank account numbers, and
//! small helpers for drawing from lists. Every function takes the caller's
//! RNG, so values are reproducible.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub type R = ChaCha8Rng;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "英", "华", "建", "国", "志", "红", "文", "玲", "斌", "波",
    "辉", "鹏", "宇", "浩", "晨", "欣", "婷", "琳", "峰", "俊", "凯", "雪", "慧", "宁", "博", "思",
    "佳", "嘉",
];
const CITIES: &[&str] = &[
    "杭州", "宁波", "温州", "绍兴", "湖州", "嘉兴", "金华", "衢州", "台州", "丽水",
];
const BRANDS: &[&str] = &[
    "华远", "恒泰", "中天", "鑫源", "瑞达", "正泰", "博通", "天成", "宏图", "永盛", "万邦", "东方",
    "力拓", "明辉", "信诚", "安泰", "利华", "国信", "长城", "新能", "广汇", "振华", "金盾", "同创",
];
const TRADES: &[&str] = &[
    "电力设备",
    "电缆",
    "电气",
    "建设工程",
    "信息技术",
    "能源科技",
    "物资贸易",
    "电力工程",
    "通信技术",
    "变压器",
    "开关",
    "劳务服务",
    "物业管理",
    "汽车租赁",
    "检测技术",
];

pub fn pick<T: Copy>(rng: &mut R, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// Picks by integer weights.
pub fn weighted<'a, T>(rng: &mut R, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| *w).sum();
    let mut x = rng.random_range(0..total.max(1));
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &items[items.len() - 1].0
}

pub fn range(rng: &mut R, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..=hi)
    }
}

pub fn person_name(rng: &mut R) -> String {
    let mut s = String::from(pick(rng, SURNAMES));
    s.push_str(pick(rng, GIVEN));
    if rng.random_bool(0.7) {
        s.push_str(pick(rng, GIVEN));
    }
    s
}

pub fn company_name(rng: &mut R) -> String {
    format!(
        "{}{}{}有限公司",
        pick(rng, CITIES),
        pick(rng, BRANDS),
        pick(rng, TRADES)
    )
}

pub fn city(rng: &mut R) -> &'static str {
    pick(rng, CITIES)
}

/// An 18-digit 身份证号 (GB 11643) with a valid check digit.
pub fn id_card(rng: &mut R) -> String {
    const REGIONS: &[&str] = &[
        "330102", "330106", "330108", "330203", "330302", "330602", "330702", "331002",
    ];
    let mut s = String::with_capacity(18);
    s.push_str(pick(rng, REGIONS));
    let y = rng.random_range(1962..=2002);
    let m = rng.random_range(1..=12);
    let d = rng.random_range(1..=28);
    s.push_str(&format!(
        "{y:04}{m:02}{d:02}{:03}",
        rng.random_range(1..=999)
    ));
    s.push(id_check_digit(&s));
    s
}

/// The 18th character of a 身份证号 from its first 17 digits.
pub fn id_check_digit(first17: &str) -> char {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const C: &[u8; 11] = b"10X98765432";
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    C[(sum % 11) as usize] as char
}

/// A 统一社会信用代码 (GB 32100) with a valid check character.
pub fn uscc(rng: &mut R) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const W: [usize; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let mut s = String::from("913301");
    s.push_str(pick(rng, &["02", "04", "06", "08", "10"]));
    for _ in 0..9 {
        s.push(CHARS[rng.random_range(0..CHARS.len())] as char);
    }
    let sum: usize = s
        .bytes()
        .zip(W)
        .map(|(b, w)| CHARS.iter().position(|c| *c == b).unwrap_or(0) * w)
        .sum();
    let check = (31 - sum % 31) % 31;
    s.push(CHARS[check] as char);
    s
}

/// A mainland mobile number, 1[3-9] and nine digits.
pub fn mobile(rng: &mut R) -> String {
    format!(
        "1{}{:09}",
        rng.random_range(3..=9),
        rng.random_range(0..1_000_000_000u32)
    )
}

/// A personal debit card number (19 digits, 62 prefix).
pub fn bank_card(rng: &mut R) -> String {
    format!("6217{:015}", rng.random_range(0..1_000_000_000_000_000u64))
}

/// A corporate account number, 16 to 19 digits.
pub fn corp_account(rng: &mut R) -> String {
    let len = rng.random_range(16..=19);
    let mut s = String::from(pick(rng, &["1202", "3301", "1901", "1205"]));
    while s.len() < len {
        s.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
    s
}

/// 18-digit ID numbers generated here always pass their own check.
pub fn id_card_is_valid(s: &str) -> bool {
    s.len() == 18
        && s[..17].bytes().all(|b| b.is_ascii_digit())
        && s[17..].starts_with(id_check_digit(&s[..17]))
}

/// FNV-1a, for deriving per-table seeds from names (std's hasher is not
/// guaranteed stable across releases).
pub fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// An RNG for one named stream of the batch, independent of every other.
pub fn stream(seed: u64, name: &str) -> R {
    use rand::SeedableRng;
    ChaCha8Rng::seed_from_u64(seed ^ fnv(name).rotate_left(17))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid() {
        let mut rng = stream(1, "t");
        for _ in 0..100 {
            let id = id_card(&mut rng);
            assert!(id_card_is_valid(&id), "{id}");
            let m = mobile(&mut rng);
            assert!(m.len() == 11 && m.starts_with('1'), "{m}");
            let a = corp_account(&mut rng);
            assert!((16..=19).contains(&a.len()), "{a}");
            assert_eq!(uscc(&mut rng).len(), 18);
        }
        // A published example: 11010519491231002X.
        assert_eq!(id_check_digit("11010519491231002"), 'X');
    }
}
