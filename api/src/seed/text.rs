//! Narrative snippets for notes, observations, reasons and summaries. Generic by design: they
//! describe situations, never people.

use rand::Rng;

/// One of `pool`.
pub(crate) fn any(r: &mut impl Rng, pool: &[&'static str]) -> &'static str {
    pool[r.gen_range(0..pool.len())]
}

pub(crate) const SCREENING_NOTES: &[&str] = &[
    "访谈确认近两周情绪低落、睡眠差，食欲下降。",
    "自述学习压力大，与同学关系紧张。",
    "有自伤想法，已告知监护人并启动学校危机干预流程。",
    "近期家庭变故，情绪波动明显，上课注意力不集中。",
    "父母长期在外务工，自述孤独，常独自哭泣。",
    "存在明显焦虑表现，考试前心慌、失眠。",
];

pub(crate) const GOALS_ORANGE: &[&str] = &[
    "稳定情绪，改善睡眠；心理老师每两周谈话一次；与监护人建立固定联系；安排成长导师。",
    "缓解学业压力，恢复正常作息；班主任每周关注；每月家访一次。",
    "改善同伴关系，减少冲突；参加团体辅导；家庭教育指导每月一次。",
];

pub(crate) const GOALS_RED: &[&str] = &[
    "确保安全，消除自伤风险；配合专科评估与治疗；建立24小时监护与联系机制。",
    "危机期专人陪护；完成精神专科转介；出院后制定返校与随访计划。",
];

pub(crate) const SCHOOL_ACTIONS: &[&str] = &[
    "心理老师个别辅导谈话",
    "班主任关注情绪与学业表现",
    "安排成长导师结对",
    "调整作业量与考试安排",
    "组织同伴支持小组",
];

pub(crate) const COMMUNITY_ACTIONS: &[&str] = &[
    "儿童主任入户走访",
    "落实临时救助与生活保障",
    "家庭教育指导",
    "协调监护人定期视频联系",
    "社工个案跟进",
];

pub(crate) const FREQUENCIES: &[&str] = &["每周一次", "每两周一次", "每月一次"];

pub(crate) const HOME_VISIT_OBSERVATIONS: &[&str] = &[
    "家中整洁，祖辈照护尽心，学习用品齐全。",
    "父母在外务工，孩子与祖母同住，作业无人辅导。",
    "家庭经济困难，住房条件差，已反映给村（居）委会。",
    "孩子较内向，见到老师话少，需继续关注。",
    "监护人对孩子情绪变化了解不多，已进行家庭教育指导。",
    "孩子情绪稳定，与同学相处融洽。",
    "家长反映孩子沉迷手机，作息不规律。",
    "监护人身体欠佳，照护能力有限，建议申请临时救助。",
];

pub(crate) const TALK_OBSERVATIONS: &[&str] = &[
    "情绪较上次平稳，愿意主动交流。",
    "仍有入睡困难，已教授放松训练方法。",
    "与同学冲突减少，课堂参与度提高。",
    "提到想念在外务工的父母，约定每周视频通话。",
];

pub(crate) const FOLLOW_UP_OBSERVATIONS: &[&str] = &[
    "按时服药，情绪平稳，已恢复正常作息。",
    "睡眠改善，偶有焦虑，已提醒按时复诊。",
    "家长配合度高，孩子愿意返校。",
    "出院后情绪尚可，未见自伤行为，继续每两周随访。",
];

pub(crate) const RETURN_OBSERVATIONS: &[&str] = &[
    "返校后适应良好，能按时到校。",
    "课堂上偶有走神，已与任课老师沟通减轻作业。",
    "与同学关系正常，心理老师每周谈话一次。",
];

pub(crate) const SAFETY_MEASURES: &[&str] = &[
    "24小时专人陪护，移除危险物品，通知监护人到场。",
    "通知监护人到校接回，安排家中看护，班主任每日电话联系。",
    "拨打120送医，班主任与心理老师陪同，监护人已到场。",
    "转移至安全环境，心理老师持续陪伴，直至监护人到达。",
];

pub(crate) const CRISIS_NOTES: &[&str] = &[
    "学生自述有轻生念头，已启动危机干预预案。",
    "同学发现其手腕有划痕，立即报告班主任。",
    "测评后访谈确认存在自伤计划，当日启动危机干预。",
];

pub(crate) const REJECTION_REASONS: &[&str] = &[
    "非本院诊疗范围，建议转至儿童专科门诊。",
    "转介材料不完整，缺少监护人知情同意书，请补充后重新发起。",
    "本院儿童青少年病区床位已满，建议转至自治区脑科医院。",
];

pub(crate) const UP_OUTCOMES: &[&str] = &[
    "已完成门诊评估与治疗，病情稳定，建议社区随访。",
    "住院治疗结束，症状明显缓解，已出院并下转社区随访。",
    "评估后未见住院指征，建议学校持续关注并定期复诊。",
];

pub(crate) const DOWN_OUTCOMES: &[&str] = &[
    "首次出院随访已完成，情绪稳定，按时服药。",
    "已完成出院随访并建立社区随访档案，家长配合良好。",
];

pub(crate) const FAILURE_NOTES: &[&str] = &[
    "监护人拒绝继续治疗。",
    "家庭搬迁，失去联系。",
    "患儿多次未按约就诊。",
];

pub(crate) const REVOKE_NOTES: &[&str] = &["家长选择自行就医。", "信息填写有误，撤回后重新发起。"];

pub(crate) const FOLLOW_UP_ADVICE: &[&str] = &[
    "出院后每两周社区随访一次，按时服药，一个月后门诊复诊。",
    "避免过重学业压力，保证睡眠，如出现情绪明显低落及时就诊。",
    "家长加强陪伴与监护，学校心理老师每周谈话一次，定期门诊复查。",
];

pub(crate) const CLEARANCES: &[&str] = &[
    "出院评估：病情稳定，可以返校，建议逐步恢复学习强度。",
    "经复诊评估，适合返校学习，需继续门诊随访。",
];

pub(crate) const ACCOMMODATIONS: &[&str] = &[
    "前两周半天在校；免除本学期期中考试；心理老师每周谈话一次。",
    "减少作业量；安排座位靠近讲台；班主任每日关注情绪。",
    "允许课间到心理辅导室休息；暂停住校，改为走读。",
];

pub(crate) const COUNSELING_SUMMARIES: &[&str] = &[
    "个别辅导：讨论近期情绪与睡眠，练习放松技巧。",
    "个别辅导：梳理学业压力来源，制定作息计划。",
    "个别辅导：处理与同学的矛盾，练习沟通表达。",
];

pub(crate) const HOTLINE_SUMMARIES: &[&str] = &[
    "来电倾诉学习压力与亲子冲突，已进行情绪疏导并告知后续求助渠道。",
    "来电反映在校被同学欺负，已疏导情绪并建议告知老师与家长。",
    "来电者称心情低落，评估未见即时危险，约定次日回访。",
];

pub(crate) const FAMILY_GUIDANCE_SUMMARIES: &[&str] = &[
    "指导监护人每周与孩子视频通话，关注孩子情绪变化。",
    "讲解隔代教养中的沟通方法，建议减少打骂。",
    "指导家长识别孩子心理异常信号及求助途径。",
];

pub(crate) const AID_SUMMARIES: &[&str] =
    &["发放学习用品与冬衣。", "落实临时救助金，协助申请低保。"];

pub(crate) const SUPPORT_SUMMARIES: &[&str] = &[
    "情绪疏导：倾听近期烦恼，约定下周再谈。",
    "情绪疏导：考前焦虑，练习呼吸放松。",
];

/// A report's narrative, by category name.
pub(crate) fn report_description(r: &mut impl Rng, category: &str) -> &'static str {
    let pool: &[&str] = match category {
        "PSYCHOLOGICAL" => &[
            "近期情绪持续低落，常独自哭泣，拒绝与人交流。",
            "上课注意力无法集中，自述整夜失眠。",
        ],
        "BEHAVIOURAL" => &[
            "近期频繁逃课，与同学发生多次冲突。",
            "沉迷网络游戏，夜不归宿，监护人无法管束。",
        ],
        "SELF_HARM_RISK" => &[
            "在作文中流露轻生念头，已第一时间报告。",
            "同学发现其手腕有划痕，本人承认曾自伤。",
        ],
        "ABUSE" => &[
            "孩子身上多处淤青，自述被家人体罚。",
            "孩子反映长期遭受监护人打骂，不敢回家。",
        ],
        "SEXUAL_ABUSE" => &["儿童向老师透露曾遭受不当身体接触，已报警并陪同问询。"],
        "NEGLECT" => &[
            "孩子长期无人照料，衣着单薄，经常饿着肚子上学。",
            "监护人长期外出，孩子独自在家生活。",
        ],
        "BULLYING" => &[
            "在校多次被同学索要财物并遭殴打。",
            "遭同学在网络群聊中持续辱骂、孤立。",
        ],
        "DOMESTIC_VIOLENCE" => &[
            "孩子反映父亲酒后经常殴打母亲和自己。",
            "邻居反映该户经常传出打骂声，孩子身上有伤。",
        ],
        _ => &["村（居）委会反映该儿童生活状况异常，需核查。"],
    };
    any(r, pool)
}

/// A discharge summary naming the diagnosis (clinical, G-CLIN).
pub(crate) fn discharge_summary(r: &mut impl Rng, diagnosis: &str, inpatient: bool) -> String {
    let course = any(
        r,
        &[
            "经药物治疗与心理治疗，症状明显缓解",
            "经规范治疗，情绪趋于稳定，睡眠改善",
            "经综合治疗，自伤观念消失，社会功能部分恢复",
        ],
    );
    let setting = if inpatient { "住院" } else { "门诊" };
    format!("{setting}诊断：{diagnosis}。{course}。出院时精神状态平稳，无自伤自杀观念。")
}
