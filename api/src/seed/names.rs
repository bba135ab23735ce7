//! Pools of name parts for synthetic people and places. Every name the seeder writes is drawn
//! from these pools at random: none is taken from a real person.

use rand::Rng;

/// Surnames, the ones common in Guangxi first (picked with a bias towards the front).
const SURNAMES: &[&str] = &[
    "黄", "李", "韦", "陈", "梁", "莫", "覃", "刘", "杨", "张", "王", "林", "蒙", "农", "罗", "卢",
    "潘", "周", "吴", "谢", "何", "蓝", "廖", "邓", "唐", "苏", "钟", "蒋", "赵", "曾", "冯", "朱",
    "胡", "徐", "许", "陆", "颜", "甘", "宋", "雷", "马", "石", "邱", "谭", "欧", "龙", "秦", "程",
    "郑", "孙", "闭", "凌", "岑", "麦",
];

const BOY: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华", "飞",
    "鑫", "波", "宇", "浩", "凯", "健", "俊", "帆", "旭", "宁", "龙", "林", "阳", "晨", "睿", "轩",
    "博", "文", "泽", "宏", "志", "家", "天", "嘉", "锦", "铭", "皓", "瑞", "翔", "海", "成", "亮",
    "荣", "德",
];

const GIRL: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "玲", "燕", "婷", "雪", "琳", "晶", "欣",
    "怡", "佳", "梅", "颖", "璐", "倩", "悦", "彤", "萱", "琪", "涵", "诗", "雨", "梦", "妍", "可",
    "馨", "月", "瑶", "蕾", "兰", "红", "春", "凤",
];

/// Characters that suit either gender, used as the first of two given-name characters.
const SHARED: &[&str] = &[
    "子", "思", "一", "雨", "欣", "家", "嘉", "晓", "小", "春", "文", "明", "海", "永", "宇", "新",
    "天", "志",
];

/// First and second syllables of generated place names.
const PLACE_A: &[&str] = &[
    "平", "安", "宁", "山", "河", "江", "源", "阳", "林", "乐", "昌", "德", "丰", "和", "兴", "隆",
    "武", "南", "东", "西", "宾", "川", "田", "桥", "水", "溪", "岭", "岩", "坪", "塘", "龙", "凤",
    "云", "金", "石", "清", "泉", "明", "新", "永", "富", "福", "华", "荣", "高", "古", "那", "板",
    "六", "百", "思", "都", "定", "灵", "横", "上", "下", "大", "小", "长", "沙", "马", "黎", "茶",
    "竹", "松", "柳", "桂", "梧", "榕", "蒲", "莲",
];
const PLACE_B: &[&str] = &[
    "平", "安", "宁", "山", "江", "源", "阳", "林", "乐", "昌", "德", "丰", "和", "兴", "隆", "城",
    "川", "田", "桥", "水", "溪", "岭", "岩", "坪", "塘", "洞", "峰", "湾", "洲", "口", "圩", "坡",
    "垌", "浪", "岸", "墟", "头", "寨", "屯", "庄", "桂", "榄", "华", "明", "新", "福", "胜", "利",
    "合", "中", "朗", "美", "良", "庆",
];

/// A surname, biased towards the common ones.
pub(crate) fn surname(r: &mut impl Rng) -> &'static str {
    let u: f64 = r.gen();
    let i = ((u * u) * SURNAMES.len() as f64) as usize;
    SURNAMES[i.min(SURNAMES.len() - 1)]
}

fn one(r: &mut impl Rng, pool: &[&'static str]) -> &'static str {
    pool[r.gen_range(0..pool.len())]
}

/// A given name of one or two characters.
pub(crate) fn given_name(r: &mut impl Rng, male: bool) -> String {
    let pool = if male { BOY } else { GIRL };
    if r.gen_bool(0.35) {
        one(r, pool).to_owned()
    } else {
        let first = if r.gen_bool(0.4) {
            one(r, SHARED)
        } else {
            one(r, pool)
        };
        let mut second = one(r, pool);
        if second == first {
            second = one(r, pool);
        }
        format!("{first}{second}")
    }
}

/// A full name; the surname is drawn unless given.
pub(crate) fn person_name(r: &mut impl Rng, male: bool, family: Option<&str>) -> String {
    let s = match family {
        Some(s) => s.to_owned(),
        None => surname(r).to_owned(),
    };
    format!("{s}{}", given_name(r, male))
}

/// The display form of a name: the surname, a star, and the last character of a three-character
/// name (`李*明`); two-character names keep only the surname (`李*`), which would otherwise be
/// the whole name.
pub(crate) fn display_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.as_slice() {
        [] => String::new(),
        [first] | [first, _] => format!("{first}*"),
        [first, .., last] => format!("{first}*{last}"),
    }
}

/// A two-syllable place name that is not in `taken`.
pub(crate) fn place_stem(
    r: &mut impl Rng,
    taken: &mut std::collections::BTreeSet<String>,
) -> String {
    loop {
        let a = one(r, PLACE_A);
        let b = one(r, PLACE_B);
        if a == b {
            continue;
        }
        let stem = format!("{a}{b}");
        if taken.insert(stem.clone()) {
            return stem;
        }
    }
}

/// An 11-digit synthetic mobile number.
pub(crate) fn mobile(r: &mut impl Rng) -> String {
    const PREFIXES: &[&str] = &[
        "130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "155", "158", "177",
        "180", "185", "187", "188", "199",
    ];
    format!("{}{:08}", one(r, PREFIXES), r.gen_range(0..100_000_000u32))
}

/// A synthetic landline in the city's area code.
pub(crate) fn landline(r: &mut impl Rng, area: &str) -> String {
    format!("{area}-{}", r.gen_range(2_000_000..9_000_000u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn display_names_hide_the_given_name() {
        assert_eq!(display_name("李小明"), "李*明");
        assert_eq!(display_name("李明"), "李*");
        assert_eq!(display_name("欧阳小明"), "欧*明");
    }

    #[test]
    fn names_have_two_or_three_characters() {
        let mut r = ChaCha8Rng::seed_from_u64(7);
        for i in 0..1000 {
            let n = person_name(&mut r, i % 2 == 0, None);
            let len = n.chars().count();
            assert!((2..=3).contains(&len), "{n}");
        }
    }

    #[test]
    fn place_stems_are_unique() {
        let mut r = ChaCha8Rng::seed_from_u64(7);
        let mut taken = std::collections::BTreeSet::new();
        let v: Vec<String> = (0..500).map(|_| place_stem(&mut r, &mut taken)).collect();
        let set: std::collections::BTreeSet<&String> = v.iter().collect();
        assert_eq!(set.len(), v.len());
    }

    #[test]
    fn phones_have_the_right_shape() {
        let mut r = ChaCha8Rng::seed_from_u64(7);
        let m = mobile(&mut r);
        assert_eq!(m.len(), 11);
        assert!(m.bytes().all(|b| b.is_ascii_digit()));
        assert!(landline(&mut r, "0771").starts_with("0771-"));
    }
}
