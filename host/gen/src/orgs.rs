//! The organisation tree (the platform's demo org ids, so generated data
//! lines up with user scopes) and the chart of accounts (财会[2006]3号
//! numbering), with the master tables that describe them.

use crate::calendar;
use crate::out::{Out, def};
use anyhow::Result;
use zhiyun_batch::ColumnType::*;

pub struct Org {
    pub id: &'static str,
    pub name: &'static str,
    pub parent: &'static str,
    pub level: u8,
    pub kind: &'static str,
    /// Index into [`ENTITIES`] of the accounting entity whose books it is in.
    pub entity: usize,
}

/// Accounting entities (org_id on vouchers and balances): 本部 and the three 县公司.
pub const ENTITIES: [&str; 4] = ["3300", "3301", "3302", "3303"];
pub const HQ: usize = 0;

pub const ORGS: &[Org] = &[
    Org {
        id: "3300",
        name: "国网示范市供电公司",
        parent: "",
        level: 2,
        kind: "本部",
        entity: 0,
    },
    Org {
        id: "3301",
        name: "国网示范市东城县供电公司",
        parent: "3300",
        level: 3,
        kind: "县公司",
        entity: 1,
    },
    Org {
        id: "3302",
        name: "国网示范市西山县供电公司",
        parent: "3300",
        level: 3,
        kind: "县公司",
        entity: 2,
    },
    Org {
        id: "3303",
        name: "国网示范市南湖县供电公司",
        parent: "3300",
        level: 3,
        kind: "县公司",
        entity: 3,
    },
    Org {
        id: "330101",
        name: "东城县城关供电所",
        parent: "3301",
        level: 4,
        kind: "供电所",
        entity: 1,
    },
    Org {
        id: "330102",
        name: "东城县临港供电所",
        parent: "3301",
        level: 4,
        kind: "供电所",
        entity: 1,
    },
    Org {
        id: "330201",
        name: "西山县城西供电所",
        parent: "3302",
        level: 4,
        kind: "供电所",
        entity: 2,
    },
    Org {
        id: "330202",
        name: "西山县山前供电所",
        parent: "3302",
        level: 4,
        kind: "供电所",
        entity: 2,
    },
    Org {
        id: "330301",
        name: "南湖县湖滨供电所",
        parent: "3303",
        level: 4,
        kind: "供电所",
        entity: 3,
    },
    Org {
        id: "330302",
        name: "南湖县新塘供电所",
        parent: "3303",
        level: 4,
        kind: "供电所",
        entity: 3,
    },
    Org {
        id: "3300-cw",
        name: "本部财务资产部",
        parent: "3300",
        level: 3,
        kind: "部门",
        entity: 0,
    },
    Org {
        id: "3300-kj",
        name: "本部科技数字化部",
        parent: "3300",
        level: 3,
        kind: "部门",
        entity: 0,
    },
    Org {
        id: "3300-yy",
        name: "本部营销服务中心",
        parent: "3300",
        level: 3,
        kind: "部门",
        entity: 0,
    },
    Org {
        id: "3301-cw",
        name: "东城县公司财务部",
        parent: "3301",
        level: 4,
        kind: "部门",
        entity: 1,
    },
    Org {
        id: "3302-cw",
        name: "西山县公司财务部",
        parent: "3302",
        level: 4,
        kind: "部门",
        entity: 2,
    },
    Org {
        id: "3303-cw",
        name: "南湖县公司财务部",
        parent: "3303",
        level: 4,
        kind: "部门",
        entity: 3,
    },
];

/// Indices into [`ORGS`] of the 供电所 (customers belong to them).
pub const STATIONS: [usize; 6] = [4, 5, 6, 7, 8, 9];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Acct(pub u16);

pub struct AcctDef {
    pub code: &'static str,
    pub name: &'static str,
    pub parent: &'static str,
    pub class: &'static str,
    pub dir: &'static str,
    pub leaf: bool,
    pub aux: &'static str,
}

macro_rules! chart {
    ($( $c:ident = $code:literal, $name:literal, $parent:literal, $class:literal, $dir:literal, $leaf:literal, $aux:literal; )*) => {
        pub const CHART: &[AcctDef] = &[ $( AcctDef { code: $code, name: $name, parent: $parent, class: $class, dir: $dir, leaf: $leaf, aux: $aux }, )* ];
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        enum AcctIndex { $( $c, )* }
        $( pub const $c: Acct = Acct(AcctIndex::$c as u16); )*
    };
}

chart! {
    A1001 = "1001", "库存现金", "", "资产", "借", true, "";
    A1002 = "1002", "银行存款", "", "资产", "借", true, "";
    A1122 = "1122", "应收账款", "", "资产", "借", false, "";
    A112201 = "112201", "应收电费", "1122", "资产", "借", true, "客户";
    A1123 = "1123", "预付账款", "", "资产", "借", true, "供应商";
    A1221 = "1221", "其他应收款", "", "资产", "借", true, "部门";
    A1231 = "1231", "坏账准备", "", "资产", "贷", true, "";
    A1403 = "1403", "原材料", "", "资产", "借", true, "";
    A1601 = "1601", "固定资产", "", "资产", "借", true, "";
    A1602 = "1602", "累计折旧", "", "资产", "贷", true, "";
    A1604 = "1604", "在建工程", "", "资产", "借", true, "项目";
    A1605 = "1605", "工程物资", "", "资产", "借", true, "项目";
    A2001 = "2001", "短期借款", "", "负债", "贷", true, "";
    A2202 = "2202", "应付账款", "", "负债", "贷", true, "供应商";
    A2203 = "2203", "合同负债-预收电费", "", "负债", "贷", true, "客户";
    A2211 = "2211", "应付职工薪酬", "", "负债", "贷", true, "部门";
    A2221 = "2221", "应交税费", "", "负债", "贷", false, "";
    A222101 = "222101", "应交增值税", "2221", "负债", "贷", false, "";
    A22210101 = "22210101", "进项税额", "222101", "负债", "贷", true, "";
    A22210102 = "22210102", "销项税额", "222101", "负债", "贷", true, "";
    A222105 = "222105", "应交个人所得税", "2221", "负债", "贷", true, "";
    A2241 = "2241", "其他应付款", "", "负债", "贷", true, "人员";
    A2501 = "2501", "长期借款", "", "负债", "贷", true, "";
    A4001 = "4001", "实收资本", "", "权益", "贷", true, "";
    A4103 = "4103", "本年利润", "", "权益", "贷", true, "";
    A4104 = "4104", "利润分配", "", "权益", "贷", true, "";
    A6001 = "6001", "主营业务收入-售电收入", "", "损益", "贷", true, "";
    A6051 = "6051", "其他业务收入", "", "损益", "贷", true, "";
    A6401 = "6401", "主营业务成本", "", "损益", "借", false, "";
    A640101 = "640101", "购电费", "6401", "损益", "借", true, "";
    A640102 = "640102", "折旧费", "6401", "损益", "借", true, "";
    A640103 = "640103", "人工成本", "6401", "损益", "借", true, "部门";
    A640104 = "640104", "材料费", "6401", "损益", "借", true, "";
    A640105 = "640105", "修理费", "6401", "损益", "借", true, "";
    A640106 = "640106", "其他运营费用", "6401", "损益", "借", true, "部门";
    A6403 = "6403", "税金及附加", "", "损益", "借", true, "";
    A6602 = "6602", "管理费用", "", "损益", "借", false, "";
    A660201 = "660201", "差旅费", "6602", "损益", "借", true, "部门";
    A660202 = "660202", "会议费", "6602", "损益", "借", true, "部门";
    A660203 = "660203", "业务招待费", "6602", "损益", "借", true, "部门";
    A660204 = "660204", "办公费", "6602", "损益", "借", true, "部门";
    A660205 = "660205", "培训费", "6602", "损益", "借", true, "部门";
    A660206 = "660206", "车辆使用费", "6602", "损益", "借", true, "部门";
    A660207 = "660207", "职工薪酬", "6602", "损益", "借", true, "部门";
    A660299 = "660299", "其他管理费用", "6602", "损益", "借", true, "部门";
    A6603 = "6603", "财务费用", "", "损益", "借", true, "";
    A6801 = "6801", "所得税费用", "", "损益", "借", true, "";
}

impl Acct {
    pub fn def(self) -> &'static AcctDef {
        &CHART[self.0 as usize]
    }
    pub fn code(self) -> &'static str {
        self.def().code
    }
    pub fn is_pnl(self) -> bool {
        self.def().class == "损益"
    }
}

/// Writes dim_org, dim_account and dim_period.
pub fn write_masters(out: &mut Out) -> Result<()> {
    let d = def(
        "dim_org",
        "主数据",
        "组织机构维表：二级单位、县公司、供电所及部门",
    )
    .col("org_id", String, "组织编码")
    .col("org_code", String, "组织代码（ERP公司代码/成本中心代码）")
    .fw()
    .col("name", String, "组织名称")
    .pad()
    .col("parent_id", String, "上级组织编码")
    .col("level", Int, "层级：2二级单位/3县公司/4供电所或部门")
    .col("org_type", String, "组织类型：本部/县公司/供电所/部门")
    .col("is_acct_entity", Bool, "是否会计主体")
    .col("cost_center", String, "成本中心")
    .col("profit_center", String, "利润中心")
    .key(&["org_id"])
    .build();
    let mut t = out.open(d, ORGS.len() as u64, true)?;
    for o in ORGS {
        let entity = ENTITIES.contains(&o.id);
        t.rec
            .start()
            .s(o.id)
            .f(format_args!("C{}", o.id.replace('-', "").to_uppercase()))
            .s(o.name)
            .s(o.parent)
            .int(i64::from(o.level))
            .s(o.kind)
            .b(entity)
            .f(format_args!("CC{}", o.id.replace('-', "").to_uppercase()))
            .f(format_args!("PC{}", ENTITIES[o.entity]));
        t.emit(out)?;
    }
    out.close(t)?;

    let d = def(
        "dim_account",
        "总账",
        "会计科目维表（财会[2006]3号编号，含辅助核算要求）",
    )
    .col("acct_code", String, "科目编码")
    .col("name", String, "科目名称")
    .pad()
    .col("parent_code", String, "上级科目编码")
    .col("level", Int, "科目级次")
    .col("class", String, "科目类别：资产/负债/权益/成本/损益")
    .col("balance_dir", String, "余额方向：借/贷")
    .col("is_leaf", Bool, "是否末级科目")
    .col(
        "aux_required",
        String,
        "辅助核算：客户/供应商/项目/部门/人员",
    )
    .key(&["acct_code"])
    .build();
    let mut t = out.open(d, CHART.len() as u64, true)?;
    for a in CHART {
        let level = match a.code.len() {
            4 => 1,
            6 => 2,
            _ => 3,
        };
        t.rec
            .start()
            .s(a.code)
            .s(a.name)
            .s(a.parent)
            .int(level)
            .s(a.class)
            .s(a.dir)
            .b(a.leaf)
            .s(a.aux);
        t.emit(out)?;
    }
    out.close(t)?;

    let d = def("dim_period", "总账", "会计期间维表")
        .col("period", String, "会计期间 YYYYMM")
        .col("fiscal_year", Int, "会计年度")
        .col("is_closed", Bool, "是否已结账")
        .col("close_date", Date, "结账日期")
        .key(&["period"])
        .build();
    let periods = calendar::periods();
    let mut t = out.open(d, periods.len() as u64, true)?;
    for p in periods {
        let (_, last) = calendar::period_bounds(p);
        let closed = last < calendar::as_of();
        t.rec
            .start()
            .f(format_args!("{p}"))
            .int(i64::from(p / 100))
            .b(closed)
            .opt_day(closed.then(|| last.plus(5)));
        t.emit(out)?;
    }
    out.close(t)?;
    Ok(())
}

pub fn entity_of(org_id: &str) -> usize {
    ORGS.iter().find(|o| o.id == org_id).map_or(0, |o| o.entity)
}
