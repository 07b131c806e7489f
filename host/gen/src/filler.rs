//! The rest of the batch: the many smaller tables a real data platform
//! sends along — code tables (码表), logs, subsidiary records and module
//! details of 营销, 人资, 工程, 物资, 资产, 总账, 资金, 税务, 预算, 共享运营
//! and 运检. Their names and schemas come from a fixed stream (the same for
//! every seed), their values from the batch seed.
//!
//! Batch 2 (`BatchKind::Second`) adds [`SECOND_BATCH_NEW`] new tables and
//! drifts three of batch 1's: see [`DRIFT_ADDED`], [`DRIFT_DROPPED`] and
//! [`DRIFT_RETYPED`].

use crate::calendar::{self, Day};
use crate::dirt::DirtPlan;
use crate::orgs::ORGS;
use crate::out::{Def, Out};
use crate::values;
use anyhow::Result;
use rand::Rng;
use zhiyun_batch::{ColumnSpec, ColumnType, TableSpec};

/// Tables only the second batch has.
pub const SECOND_BATCH_NEW: usize = 55;
/// Gains a column `reading_source` (string) in batch 2.
pub const DRIFT_ADDED: &str = "mk_meter_reading";
/// Loses its last column in batch 2.
pub const DRIFT_DROPPED: &str = "hr_training_record";
/// Its `seq_no` column changes from int to string (values like `NO-000123`) in batch 2.
pub const DRIFT_RETYPED: &str = "fd_bank_statement";

const SUFFIXES: &[(&str, &str)] = &[
    ("", ""),
    ("_detail", "明细"),
    ("_his", "历史"),
    ("_log", "日志"),
    ("_m", "月度汇总"),
    ("_d", "日快照"),
    ("_tmp", "中间表"),
];

type Family = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const FAMILIES: &[Family] = &[
    (
        "mk_",
        "营销电费",
        &[
            ("meter_reading", "抄表记录"),
            ("meter_asset", "电能表资产"),
            ("tariff_exec", "电价执行"),
            ("arrears_notice", "欠费通知"),
            ("prepaid_topup", "预付费充值"),
            ("load_profile", "负荷曲线"),
            ("line_loss", "台区线损"),
            ("service_ticket", "95598服务工单"),
            ("cust_change", "业扩变更"),
            ("bill_adjust", "电费退补"),
            ("collection_task", "催费任务"),
            ("station_area", "台区档案"),
        ],
    ),
    (
        "hr_",
        "人资",
        &[
            ("training_record", "培训记录"),
            ("attendance", "考勤"),
            ("position_change", "岗位变动"),
            ("social_insurance", "社保缴纳"),
            ("performance", "绩效考核"),
            ("qualification", "资格证书"),
            ("family_member", "家庭成员"),
            ("labor_contract", "劳动合同"),
            ("leave", "请休假"),
            ("overtime", "加班"),
            ("annuity", "企业年金"),
            ("welfare", "福利发放"),
        ],
    ),
    (
        "pm_",
        "工程",
        &[
            ("wbs_progress", "形象进度"),
            ("design_change", "设计变更"),
            ("settlement", "工程结算"),
            ("site_visa", "现场签证"),
            ("safety_check", "安全检查"),
            ("acceptance", "竣工验收"),
            ("bidding", "招标"),
            ("estimate_adjust", "概算调整"),
            ("migrant_wage", "农民工工资"),
            ("supervision", "监理日志"),
        ],
    ),
    (
        "mm_",
        "物资",
        &[
            ("purchase_order", "采购订单"),
            ("delivery", "到货验收"),
            ("stocktake", "库存盘点"),
            ("quality_inspection", "质量抽检"),
            ("supplier_eval", "供应商评价"),
            ("scrap", "废旧物资处置"),
            ("stock_transfer", "库存调拨"),
            ("reservation", "物资预留"),
            ("batch", "物资批次"),
            ("return", "退货"),
        ],
    ),
    (
        "am_",
        "资产",
        &[
            ("asset_inventory", "资产盘点"),
            ("asset_transfer", "资产调拨"),
            ("asset_disposal", "资产处置"),
            ("impairment", "减值测试"),
            ("lease", "租赁"),
            ("maintenance", "检修记录"),
            ("equipment_ledger", "设备台账"),
            ("card_change", "卡片变动"),
            ("insurance", "财产保险"),
            ("valuation", "资产评估"),
        ],
    ),
    (
        "fi_",
        "总账",
        &[
            ("report_item", "报表项目"),
            ("intercompany", "内部往来对账"),
            ("accrual", "预提费用"),
            ("closing_check", "关账检查"),
            ("exchange_rate", "汇率"),
            ("aux_balance", "辅助核算余额"),
            ("voucher_attach", "凭证附件"),
            ("manual_adjust", "手工调账"),
            ("consolidation", "合并抵销"),
            ("archive", "会计档案"),
        ],
    ),
    (
        "fd_",
        "资金",
        &[
            ("bank_statement", "银行对账单"),
            ("bill_receivable", "应收票据"),
            ("bill_payable", "应付票据"),
            ("loan_contract", "借款合同"),
            ("interest", "利息计提"),
            ("pool_allocation", "资金池归集"),
            ("account_change", "账户变更"),
            ("cash_forecast", "资金预测"),
            ("guarantee", "保函"),
            ("credit_line", "授信额度"),
        ],
    ),
    (
        "tx_",
        "税务",
        &[
            ("vat_return", "增值税申报"),
            ("cit_prepay", "所得税预缴"),
            ("stamp_duty", "印花税"),
            ("property_tax", "房产税"),
            ("land_tax", "土地使用税"),
            ("invoice_check", "发票查验"),
            ("tax_risk", "税务风险"),
            ("deduction", "进项抵扣"),
            ("refund", "退税"),
            ("tax_payment", "税款缴纳"),
        ],
    ),
    (
        "bg_",
        "预算",
        &[
            ("budget_adjust", "预算调整"),
            ("budget_exec", "预算执行"),
            ("cost_center_plan", "成本中心计划"),
            ("project_reserve", "项目储备"),
            ("rolling_forecast", "滚动预测"),
            ("control_log", "预算控制"),
            ("indicator", "考核指标"),
            ("cost_allocation", "费用分摊"),
            ("template", "预算模板"),
            ("approval", "预算审批"),
        ],
    ),
    (
        "ssc_",
        "共享运营",
        &[
            ("doc_scan", "影像扫描"),
            ("sla_stat", "SLA统计"),
            ("auditor_load", "审核人工作量"),
            ("rpa_task", "RPA任务"),
            ("knowledge", "知识库"),
            ("archive_box", "档案盒"),
            ("callback", "回访"),
            ("quality_sample", "质检抽样"),
            ("rule_hit", "审核规则命中"),
            ("ticket", "服务工单"),
        ],
    ),
    (
        "log_",
        "运维日志",
        &[
            ("interface", "接口调用"),
            ("login", "登录"),
            ("data_sync", "数据同步"),
            ("job_run", "任务运行"),
            ("audit", "审计"),
            ("error", "错误"),
            ("export", "数据导出"),
            ("api_access", "API访问"),
        ],
    ),
    (
        "om_",
        "运检",
        &[
            ("patrol", "巡视"),
            ("defect", "缺陷"),
            ("outage_plan", "停电计划"),
            ("fault", "故障"),
            ("switch_op", "倒闸操作"),
            ("tree_trim", "树障清理"),
            ("equipment_test", "设备试验"),
            ("hidden_danger", "隐患排查"),
        ],
    ),
];

const CODE_TABLES: &[(&str, &str, &str)] = &[
    ("bank_type", "资金", "银行类别"),
    ("voltage_level", "营销电费", "电压等级"),
    ("industry", "营销电费", "行业分类"),
    ("pay_channel", "营销电费", "缴费渠道"),
    ("asset_class", "资产", "资产类别"),
    ("project_type", "工程", "项目类型"),
    ("expense_item", "共享运营", "费用项目"),
    ("budget_item", "预算", "预算项目"),
    ("currency", "资金", "币种"),
    ("tax_rate", "税务", "税率"),
    ("org_type", "主数据", "组织类型"),
    ("post", "人资", "岗位"),
    ("material_category", "物资", "物料大类"),
    ("warehouse", "物资", "仓库"),
    ("uom", "物资", "计量单位"),
    ("region", "主数据", "行政区划"),
    ("cashflow_item", "总账", "现金流量项目"),
    ("biz_activity", "总账", "业务活动"),
    ("fund_direction", "资金", "资金流向"),
    ("doc_type", "共享运营", "单据类型"),
    ("reject_reason", "共享运营", "退单原因"),
    ("credit_grade", "营销电费", "信用等级"),
    ("meter_type", "营销电费", "电能表类型"),
    ("tariff", "营销电费", "电价"),
    ("plant_type", "营销电费", "电源类型"),
    ("contract_type", "物资", "合同类型"),
    ("supplier_type", "物资", "供应商类型"),
    ("voucher_word", "总账", "凭证字"),
    ("source_system", "总账", "来源系统"),
    ("account_type", "资金", "账户类型"),
    ("claim_status", "共享运营", "报销状态"),
    ("education", "人资", "学历"),
    ("title", "人资", "职称"),
    ("defect_level", "运检", "缺陷等级"),
    ("weather", "运检", "天气"),
    ("ownership", "物资", "所有制"),
];

#[derive(Clone, Copy)]
enum V {
    Seq,
    Org,
    Period,
    Date,
    Ts,
    Money(i64, i64),
    Dec(i64, i64, u32),
    Int(i64, i64),
    Bool,
    Status,
    Person,
    Company,
    Remark,
    Contact,
    IdCard,
    Mobile,
    BankCard,
    Code(&'static str),
    Pick(&'static [&'static str]),
    NoSeq,
}

const POOL: &[(&str, ColumnType, &str, V)] = &[
    ("org_id", ColumnType::String, "单位编码", V::Org),
    ("period", ColumnType::String, "期间", V::Period),
    ("biz_date", ColumnType::Date, "业务日期", V::Date),
    ("create_time", ColumnType::Timestamp, "创建时间", V::Ts),
    ("update_time", ColumnType::Timestamp, "更新时间", V::Ts),
    ("creator", ColumnType::String, "创建人", V::Person),
    ("approver", ColumnType::String, "审批人", V::Person),
    ("status", ColumnType::String, "状态", V::Status),
    (
        "amount",
        ColumnType::Money,
        "金额（元）",
        V::Money(0, 50_000_000),
    ),
    (
        "tax_amount",
        ColumnType::Money,
        "税额（元）",
        V::Money(0, 5_000_000),
    ),
    (
        "unit_price",
        ColumnType::Money,
        "单价（元）",
        V::Money(100, 1_000_000),
    ),
    ("qty", ColumnType::Decimal, "数量", V::Dec(1, 100_000, 3)),
    ("ratio", ColumnType::Decimal, "比例", V::Dec(0, 10_000, 4)),
    (
        "kwh",
        ColumnType::Decimal,
        "电量（kWh）",
        V::Dec(0, 10_000_000, 2),
    ),
    ("seq_no", ColumnType::Int, "序号", V::Int(1, 9_999)),
    ("version_no", ColumnType::Int, "版本号", V::Int(1, 9)),
    ("days", ColumnType::Int, "天数", V::Int(0, 365)),
    ("is_valid", ColumnType::Bool, "是否有效", V::Bool),
    ("is_deleted", ColumnType::Bool, "删除标志", V::Bool),
    ("remark", ColumnType::String, "备注", V::Remark),
    ("contact", ColumnType::String, "联系人", V::Contact),
    (
        "category_code",
        ColumnType::String,
        "分类代码",
        V::Code("LB"),
    ),
    ("item_code", ColumnType::String, "项目代码", V::Code("XM")),
    (
        "source_system",
        ColumnType::String,
        "来源系统",
        V::Pick(&[
            "ERP",
            "营销2.0",
            "财务管控",
            "司库",
            "PMS3.0",
            "ECP",
            "人资系统",
        ]),
    ),
    ("due_date", ColumnType::Date, "到期日期", V::Date),
    ("start_date", ColumnType::Date, "开始日期", V::Date),
    ("end_date", ColumnType::Date, "结束日期", V::Date),
    (
        "voltage_level",
        ColumnType::String,
        "电压等级",
        V::Pick(&["0.4kV", "10kV", "35kV", "110kV", "220kV"]),
    ),
    ("cust_no", ColumnType::String, "户号", V::Code("330101")),
    ("mat_code", ColumnType::String, "物料编码", V::Code("50")),
    ("proj_code", ColumnType::String, "项目编码", V::Code("PJ")),
    ("doc_no", ColumnType::String, "单据号", V::Code("DJ")),
    ("counterparty", ColumnType::String, "对方单位", V::Company),
    ("handler", ColumnType::String, "经办人", V::Person),
    (
        "score",
        ColumnType::Decimal,
        "得分",
        V::Dec(6_000, 10_000, 2),
    ),
    (
        "level",
        ColumnType::String,
        "等级",
        V::Pick(&["一级", "二级", "三级", "四级"]),
    ),
    (
        "region",
        ColumnType::String,
        "区域",
        V::Pick(&["城区", "城郊", "农村", "山区", "海岛"]),
    ),
    ("batch_no", ColumnType::String, "批次号", V::Code("PC")),
    ("audit_flag", ColumnType::Bool, "是否审核", V::Bool),
    (
        "description",
        ColumnType::String,
        "说明",
        V::Pick(&[
            "按月报送",
            "系统自动生成",
            "人工补录",
            "接口同步",
            "历史迁移数据",
        ]),
    ),
    (
        "budget",
        ColumnType::Money,
        "预算金额（元）",
        V::Money(0, 100_000_000),
    ),
    (
        "balance",
        ColumnType::Money,
        "余额（元）",
        V::Money(-1_000_000, 80_000_000),
    ),
    ("hours", ColumnType::Decimal, "工时", V::Dec(0, 2_000, 1)),
    ("ext_no", ColumnType::String, "外部编号", V::NoSeq),
];

const HR_SENSITIVE: &[(&str, ColumnType, &str, V)] = &[
    ("emp_name", ColumnType::String, "姓名", V::Person),
    ("id_card_no", ColumnType::String, "身份证号", V::IdCard),
    ("mobile", ColumnType::String, "手机号码", V::Mobile),
    ("bank_card_no", ColumnType::String, "银行卡号", V::BankCard),
];

struct Col {
    name: String,
    ty: ColumnType,
    desc: String,
    v: V,
}

pub struct FillerTable {
    name: String,
    domain: &'static str,
    desc: String,
    cols: Vec<Col>,
    rows: u64,
    code: bool,
}

/// The names and schemas of all filler tables of a batch, in writing order.
pub fn plan(
    second: bool,
    row_factor: f64,
    core: &[&str],
    first_batch_count: usize,
) -> Vec<FillerTable> {
    // Schemas come from a fixed stream: the same tables whatever the seed.
    let mut rng = values::stream(0x5eed_f111, "filler-schema");
    let mut names: Vec<(String, &'static str, String, bool)> = Vec::new();
    for (code, domain, cn) in CODE_TABLES {
        names.push((format!("code_{code}"), domain, format!("码表：{cn}"), true));
    }
    for s in SUFFIXES {
        for (prefix, domain, nouns) in FAMILIES {
            for (noun, cn) in nouns.iter() {
                names.push((
                    format!("{prefix}{noun}{}", s.0),
                    domain,
                    format!("{cn}{}", s.1),
                    false,
                ));
            }
        }
    }
    names.retain(|(n, ..)| !core.contains(&n.as_str()));
    let total = if second {
        first_batch_count + SECOND_BATCH_NEW
    } else {
        first_batch_count
    };
    names.truncate(total);
    let mut out = Vec::new();
    for (name, domain, desc, code) in names {
        let mut cols = Vec::new();
        let rows = if code {
            cols.push(Col {
                name: "code".into(),
                ty: ColumnType::String,
                desc: "代码".into(),
                v: V::Seq,
            });
            cols.push(Col {
                name: "name".into(),
                ty: ColumnType::String,
                desc: "名称".into(),
                v: V::Pick(&[]),
            });
            cols.push(Col {
                name: "parent_code".into(),
                ty: ColumnType::String,
                desc: "上级代码".into(),
                v: V::Pick(&[]),
            });
            if rng.random_bool(0.6) {
                cols.push(Col {
                    name: "sort_no".into(),
                    ty: ColumnType::Int,
                    desc: "排序号".into(),
                    v: V::Int(1, 99),
                });
            }
            cols.push(Col {
                name: "is_valid".into(),
                ty: ColumnType::Bool,
                desc: "是否有效".into(),
                v: V::Bool,
            });
            rng.random_range(5..=60)
        } else {
            cols.push(Col {
                name: "rec_id".into(),
                ty: ColumnType::String,
                desc: "记录编号".into(),
                v: V::Seq,
            });
            let width = if rng.random_bool(0.15) {
                rng.random_range(20..=40)
            } else {
                rng.random_range(3..=18)
            };
            let mut pool: Vec<usize> = (0..POOL.len()).collect();
            // Shuffle by draws from the schema stream.
            for k in (1..pool.len()).rev() {
                let j = rng.random_range(0..=k);
                pool.swap(k, j);
            }
            let hr = name.starts_with("hr_");
            if hr {
                for (n, ty, d, v) in HR_SENSITIVE {
                    cols.push(Col {
                        name: (*n).into(),
                        ty: *ty,
                        desc: (*d).into(),
                        v: *v,
                    });
                }
            }
            for &p in &pool {
                if cols.len() >= width.max(3) {
                    break;
                }
                let (n, ty, d, v) = POOL[p];
                cols.push(Col {
                    name: n.into(),
                    ty,
                    desc: d.into(),
                    v,
                });
            }
            if name == DRIFT_RETYPED && !cols.iter().any(|c| c.name == "seq_no") {
                cols.push(Col {
                    name: "seq_no".into(),
                    ty: ColumnType::Int,
                    desc: "序号".into(),
                    v: V::Int(1, 9_999),
                });
            }
            if name == DRIFT_DROPPED && cols.len() < 4 {
                cols.push(Col {
                    name: "remark".into(),
                    ty: ColumnType::String,
                    desc: "备注".into(),
                    v: V::Remark,
                });
            }
            // Tens to a few thousand rows at demo scale, log-uniformly.
            let base = 20.0 * 150.0f64.powf(rng.random::<f64>());
            ((base * row_factor) as u64).max(5)
        };
        let mut t = FillerTable {
            name,
            domain,
            desc,
            cols,
            rows,
            code,
        };
        if second {
            drift(&mut t);
        }
        out.push(t);
    }
    out
}

fn drift(t: &mut FillerTable) {
    if t.name == DRIFT_ADDED {
        t.cols.push(Col {
            name: "reading_source".into(),
            ty: ColumnType::String,
            desc: "抄表来源（第二批新增）".into(),
            v: V::Pick(&["HPLC", "人工", "远程"]),
        });
    } else if t.name == DRIFT_DROPPED {
        t.cols.pop();
    } else if t.name == DRIFT_RETYPED {
        for c in &mut t.cols {
            if c.name == "seq_no" {
                c.ty = ColumnType::String;
                c.v = V::NoSeq;
                c.desc = "序号（第二批改为字符型）".into();
            }
        }
    }
}

pub fn write(out: &mut Out, tables: Vec<FillerTable>, seed: u64) -> Result<u64> {
    let mut total = 0;
    for t in tables {
        total += write_one(out, t, seed)?;
    }
    Ok(total)
}

fn write_one(out: &mut Out, t: FillerTable, seed: u64) -> Result<u64> {
    let mut rng = values::stream(seed, &format!("filler/{}", t.name));
    let mut dirt = DirtPlan::default();
    for (i, c) in t.cols.iter().enumerate() {
        match (c.ty, c.name.as_str()) {
            (_, "rec_id" | "code") => {}
            (ColumnType::Date, _) => dirt.dates.push(i),
            (
                ColumnType::String,
                "remark" | "creator" | "handler" | "description" | "counterparty" | "name"
                | "emp_name",
            ) => dirt.padded.push(i),
            (ColumnType::String, "category_code" | "item_code" | "batch_no" | "doc_no") => {
                dirt.fullwidth.push(i)
            }
            _ => {}
        }
    }
    let has = |n: &str| t.cols.iter().any(|c| c.name == n);
    let spec = TableSpec {
        name: t.name.clone(),
        domain: t.domain.to_owned(),
        description: t.desc.clone(),
        columns: t
            .cols
            .iter()
            .map(|c| ColumnSpec {
                name: c.name.clone(),
                ty: c.ty,
                description: c.desc.clone(),
            })
            .collect(),
        key: vec![t.cols[0].name.clone()],
        period_column: if has("period") {
            Some("period".into())
        } else if has("biz_date") {
            Some("biz_date".into())
        } else {
            None
        },
        org_column: has("org_id").then(|| "org_id".into()),
    };
    let mut tab = out.open(Def { spec, dirt }, t.rows, t.code)?;
    let prefix: String = t
        .name
        .split('_')
        .filter_map(|w| w.chars().next())
        .collect::<String>()
        .to_uppercase();
    let start = calendar::start();
    let span = calendar::as_of().0 - start.0;
    for i in 0..t.rows {
        let r = tab.rec.start();
        for (ci, c) in t.cols.iter().enumerate() {
            match c.v {
                V::Seq if t.code => r.f(format_args!("{:03}", i + 1)),
                V::Seq => r.f(format_args!("{prefix}{:09}", i + 1)),
                V::Pick([]) if t.code && ci == 1 => r.f(format_args!(
                    "{}{}",
                    t.desc.trim_start_matches("码表："),
                    i + 1
                )),
                V::Pick([]) => r.s(if i < 3 { "" } else { "001" }),
                V::Org => r.s(ORGS[rng.random_range(0..ORGS.len())].id),
                V::Period => {
                    let d = Day(start.0 + rng.random_range(0..=span));
                    r.f(format_args!("{}", d.period()))
                }
                V::Date => r.day(Day(start.0 + rng.random_range(0..=span))),
                V::Ts => r.ts(
                    Day(start.0 + rng.random_range(0..=span)),
                    rng.random_range(0..86_400),
                ),
                V::Money(lo, hi) => r.fen(values::range(&mut rng, lo, hi)),
                V::Dec(lo, hi, s) => r.dec(values::range(&mut rng, lo, hi), s),
                V::Int(lo, hi) => r.int(values::range(&mut rng, lo, hi)),
                V::Bool => r.b(rng.random_bool(0.85)),
                V::Status => r.s(values::pick(
                    &mut rng,
                    &["已审核", "待审核", "已归档", "草稿", "已作废"],
                )),
                V::Person => r.s(&values::person_name(&mut rng)),
                V::Company => r.s(&values::company_name(&mut rng)),
                V::Remark => {
                    let x: f64 = rng.random();
                    if x < 0.08 {
                        r.f(format_args!("联系电话{}", values::mobile(&mut rng)))
                    } else if x < 0.11 {
                        r.f(format_args!("收款账号{}", values::bank_card(&mut rng)))
                    } else if x < 0.6 {
                        r.s("")
                    } else {
                        r.s(values::pick(
                            &mut rng,
                            &["已核对", "按合同执行", "补录", "待确认", "系统迁移"],
                        ))
                    }
                }
                V::Contact => {
                    let name = values::person_name(&mut rng);
                    r.f(format_args!("{name}/{}", values::mobile(&mut rng)))
                }
                V::IdCard => r.s(&values::id_card(&mut rng)),
                V::Mobile => r.s(&values::mobile(&mut rng)),
                V::BankCard => r.s(&values::bank_card(&mut rng)),
                V::Code(p) => r.f(format_args!("{p}{:06}", rng.random_range(0..1_000_000))),
                V::Pick(items) => r.s(values::pick(&mut rng, items)),
                V::NoSeq => r.f(format_args!("NO-{:06}", rng.random_range(0..1_000_000))),
            };
        }
        tab.emit(out)?;
    }
    out.close(tab)
}
