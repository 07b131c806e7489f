//! The core source tables of finance-domain.md §2 that are generated from
//! the business simulation: their columns (in file order), keys, period and
//! org columns, and which columns may carry dirt.

use crate::dirt::{BANK_CODES, ELEC_CATEGORY_CODES};
use crate::out::{Def, Out, Tab, def};
use anyhow::Result;
use zhiyun_batch::ColumnType::*;

macro_rules! tables {
    ($($name:ident),* $(,)?) => {
        pub struct Tables { $(pub $name: Tab,)* }
        impl Tables {
            pub fn open(out: &mut Out, expected: &dyn Fn(&str) -> u64) -> Result<Tables> {
                Ok(Tables { $($name: out.open($name(), expected(stringify!($name)), false)?,)* })
            }
            pub fn close(self, out: &mut Out) -> Result<()> {
                $(out.close(self.$name)?;)*
                Ok(())
            }
        }
        pub const CORE_STREAMED: &[&str] = &[$(stringify!($name)),*];
    };
}

tables!(
    dim_customer,
    dim_supplier,
    dim_employee,
    dim_project,
    dim_material,
    gl_voucher,
    gl_voucher_line,
    gl_balance,
    budget_plan,
    cash_plan_daily,
    payment,
    bank_txn,
    bank_balance_daily,
    elec_bill,
    elec_payment,
    power_purchase,
    contract,
    ap_invoice,
    material_move,
    inventory_balance,
    fixed_asset,
    asset_depr,
    tax_invoice,
    payroll,
    shared_work_order,
    expense_claim,
    expense_claim_line,
);

fn dim_customer() -> Def {
    def("dim_customer", "营销电费", "用电客户档案（营销2.0）")
        .col("cust_no", String, "用户编号（户号）")
        .col("name", String, "用户名称")
        .pad()
        .col(
            "elec_category",
            String,
            "用电类别：居民/一般工商业/大工业/农业",
        )
        .col("elec_category_code", String, "用电类别代码（新代码集）")
        .old_code(ELEC_CATEGORY_CODES)
        .col("voltage", String, "供电电压等级")
        .col("industry", String, "行业分类")
        .col("org_id", String, "管理单位（供电所）")
        .col("pay_mode", String, "缴费方式：预付费/后付费")
        .col("contract_kva", Decimal, "合同容量（kVA）")
        .col("credit_grade", String, "信用等级")
        .col("group_cust_id", String, "集团户编号")
        .col("cert_no", String, "证件号码（身份证/统一社会信用代码）")
        .fw()
        .col("mobile", String, "联系电话")
        .col("contact", String, "联系人")
        .col("address", String, "用电地址")
        .pad()
        .col("open_date", Date, "立户日期")
        .key(&["cust_no"])
        .org("org_id")
        .build()
}

fn dim_supplier() -> Def {
    def("dim_supplier", "物资", "供应商档案（含电厂）")
        .col("supp_id", String, "供应商编码")
        .col("name", String, "供应商名称")
        .pad()
        .col("uscc", String, "统一社会信用代码")
        .fw()
        .col("ownership", String, "所有制：央企/国企/民营")
        .col("is_sme", Bool, "是否中小企业")
        .col("whitelist_flag", Bool, "是否白名单")
        .col("bank_acct", String, "收款银行账号")
        .col("bank_code", String, "开户行行别代码")
        .old_code(BANK_CODES)
        .col("supplier_type", String, "供应商类型：物资/服务/施工/电厂")
        .col("remark", String, "备注")
        .key(&["supp_id"])
        .build()
}

fn dim_employee() -> Def {
    def("dim_employee", "人资", "员工档案")
        .col("emp_id", String, "员工编号")
        .col("name", String, "姓名")
        .pad()
        .col("org_id", String, "所在单位（供电所/部门）")
        .col("dept", String, "部门名称")
        .col("post", String, "岗位")
        .col("grade", Int, "岗级")
        .col("status", String, "在岗状态")
        .col("id_card_no", String, "身份证号")
        .col("mobile", String, "手机号码")
        .col("bank_card_no", String, "工资卡号")
        .col("entry_date", Date, "入职日期")
        .key(&["emp_id"])
        .org("org_id")
        .build()
}

fn dim_project() -> Def {
    def("dim_project", "工程", "工程项目（WBS）档案")
        .col("proj_id", String, "项目编号")
        .col("wbs_code", String, "WBS编码")
        .fw()
        .col("name", String, "项目名称")
        .pad()
        .col("type", String, "项目类型：基建/技改/大修/营销/信息化/零购")
        .col("voltage", String, "电压等级")
        .col("org_id", String, "建设单位")
        .col("approved_budget", Money, "批复概算（元）")
        .col("start_date", Date, "开工日期")
        .keep_date()
        .col("plan_commission_date", Date, "计划投运日期")
        .col("actual_commission_date", Date, "实际投运日期")
        .keep_date()
        .col("capitalize_date", Date, "转资日期")
        .keep_date()
        .col("final_accounts_status", String, "竣工决算状态")
        .key(&["proj_id"])
        .org("org_id")
        .build()
}

fn dim_material() -> Def {
    def("dim_material", "物资", "物料主数据")
        .col("mat_code", String, "物料编码")
        .col("name", String, "物料描述")
        .pad()
        .col("spec", String, "规格型号")
        .fw()
        .col("category", String, "物料大类")
        .col("uom", String, "计量单位")
        .col("std_price", Money, "标准价（元）")
        .key(&["mat_code"])
        .build()
}

fn gl_voucher() -> Def {
    def("gl_voucher", "总账", "记账凭证头")
        .col("voucher_id", String, "凭证编号")
        .col("org_id", String, "会计主体")
        .col("period", String, "会计期间")
        .col("date", Date, "凭证日期")
        .keep_date()
        .col("word", String, "凭证字：记/收/付/转")
        .col(
            "source_system",
            String,
            "来源系统：报账/营销/物资/资产/薪酬/资金/总账",
        )
        .col("source_doc_id", String, "来源单据号")
        .col("maker", String, "制单人")
        .pad()
        .col("reviewer", String, "审核人")
        .col("status", String, "凭证状态")
        .col("total_dr", Money, "借方合计")
        .col("total_cr", Money, "贷方合计")
        .key(&["voucher_id"])
        .period("period")
        .org("org_id")
        .build()
}

fn gl_voucher_line() -> Def {
    def(
        "gl_voucher_line",
        "总账",
        "记账凭证分录（含多维精益管理辅助维度）",
    )
    .col("voucher_id", String, "凭证编号")
    .col("line_no", Int, "分录行号")
    .col("org_id", String, "会计主体")
    .col("period", String, "会计期间")
    .col("acct_code", String, "科目编码")
    .col("dr", Money, "借方金额")
    .col("cr", Money, "贷方金额")
    .col("summary", String, "摘要")
    .pad()
    .col("cost_center", String, "成本中心")
    .col("proj_id", String, "项目")
    .col("cust_no", String, "客户")
    .col("supp_id", String, "供应商")
    .col("emp_id", String, "人员")
    .col("cashflow_item", String, "现金流量项目")
    .col("biz_activity", String, "业务活动（多维）")
    .col("fund_direction", String, "资金流向（多维）")
    .key(&["voucher_id", "line_no"])
    .period("period")
    .org("org_id")
    .build()
}

fn gl_balance() -> Def {
    def(
        "gl_balance",
        "总账",
        "科目余额表（按会计主体、期间、科目及辅助项）",
    )
    .col("org_id", String, "会计主体")
    .col("period", String, "会计期间")
    .col("acct_code", String, "科目编码")
    .col("aux_key", String, "辅助核算项（S:供应商 / P:项目，空为无）")
    .col("open_dr", Money, "期初借方")
    .col("open_cr", Money, "期初贷方")
    .col("per_dr", Money, "本期借方")
    .col("per_cr", Money, "本期贷方")
    .col("ytd_dr", Money, "本年累计借方")
    .col("ytd_cr", Money, "本年累计贷方")
    .col("close_dr", Money, "期末借方")
    .col("close_cr", Money, "期末贷方")
    .key(&["org_id", "period", "acct_code", "aux_key"])
    .period("period")
    .org("org_id")
    .build()
}

fn budget_plan() -> Def {
    let mut b = def("budget_plan", "预算", "全面预算（年度预算及月度分解）")
        .col("org_id", String, "预算单位")
        .col("year", Int, "预算年度")
        .col("budget_item", String, "预算项目编码")
        .col("budget_item_name", String, "预算项目名称")
        .pad()
        .col("acct_code", String, "对应科目")
        .col("cost_center", String, "成本中心")
        .col("proj_id", String, "项目")
        .col("annual_amt", Money, "年度预算（元）");
    for m in 1..=12 {
        b = b.col(&format!("m{m:02}"), Money, &format!("{m}月预算"));
    }
    b.col("version", String, "预算版本")
        .col("control", String, "控制方式：刚性/预警/不控")
        .key(&["org_id", "year", "budget_item", "version"])
        .org("org_id")
        .build()
}

fn cash_plan_daily() -> Def {
    def("cash_plan_daily", "资金", "现金流按日排程计划与执行")
        .col("org_id", String, "单位")
        .col("date", Date, "日期")
        .col("category", String, "收支类别")
        .col("plan_in", Money, "计划收入")
        .col("plan_out", Money, "计划支出")
        .col("actual_in", Money, "实际收入")
        .col("actual_out", Money, "实际支出")
        .key(&["org_id", "date", "category"])
        .period("date")
        .org("org_id")
        .build()
}

fn payment() -> Def {
    def("payment", "资金", "付款单（司库支付）")
        .col("pay_id", String, "付款单号")
        .col("org_id", String, "付款单位")
        .col("from_acct", String, "付款账号")
        .col("payee", String, "收款方")
        .pad()
        .col("payee_acct", String, "收款账号")
        .col("payee_type", String, "收款方类型：对公/对私")
        .col("amount", Money, "付款金额")
        .col("plan_date", Date, "计划付款日期")
        .col("pay_date", Date, "实际付款日期")
        .keep_date()
        .col("biz_type", String, "业务类型")
        .col("source_doc_id", String, "来源单据号")
        .col("budget_item", String, "预算项目")
        .col("urgent_flag", Bool, "是否加急")
        .key(&["pay_id"])
        .period("pay_date")
        .org("org_id")
        .build()
}

fn bank_txn() -> Def {
    def("bank_txn", "资金", "银行账户交易流水")
        .col("txn_id", String, "流水号")
        .col("acct_no", String, "银行账号")
        .col("org_id", String, "单位")
        .col("txn_time", Timestamp, "交易时间")
        .col("dir", String, "收付方向：收/付")
        .col("amount", Money, "交易金额")
        .col("counterparty", String, "对方户名/账号")
        .pad()
        .col("purpose", String, "用途")
        .col("balance_after", Money, "交易后余额（账面）")
        .col("voucher_id", String, "对应凭证")
        .key(&["txn_id"])
        .period("txn_time")
        .org("org_id")
        .build()
}

fn bank_balance_daily() -> Def {
    def(
        "bank_balance_daily",
        "资金",
        "银行账户日余额（账面/银行/可用）",
    )
    .col("acct_no", String, "银行账号")
    .col("date", Date, "日期")
    .col("org_id", String, "单位")
    .col("book_bal", Money, "账面余额")
    .col("bank_bal", Money, "银行余额")
    .col("available", Money, "可用余额")
    .col("unreconciled", Money, "未达账金额（银行余额−账面余额）")
    .col("frozen", Money, "冻结金额")
    .key(&["acct_no", "date"])
    .period("date")
    .org("org_id")
    .build()
}

fn elec_bill() -> Def {
    def("elec_bill", "营销电费", "电费账单（应收电费）")
        .col("bill_id", String, "账单编号")
        .col("cust_no", String, "户号")
        .col("org_id", String, "供电所")
        .col("bill_month", String, "电费年月")
        .col("elec_category_code", String, "用电类别代码")
        .old_code(ELEC_CATEGORY_CODES)
        .col("kwh", Decimal, "结算电量（kWh）")
        .col("energy_chg", Money, "电度电费")
        .col("basic_chg", Money, "基本电费")
        .col("pf_adj", Money, "功率因数调整电费")
        .col("fund_surcharge", Money, "政府性基金及附加")
        .col("amount", Money, "应收电费合计")
        .col("tax", Money, "其中：增值税额")
        .col("issue_date", Date, "发行日期")
        .keep_date()
        .col("due_date", Date, "缴费截止日期")
        .key(&["bill_id"])
        .period("bill_month")
        .org("org_id")
        .build()
}

fn elec_payment() -> Def {
    def("elec_payment", "营销电费", "电费实收（缴费记录）")
        .col("rcpt_id", String, "收费流水号")
        .col("bill_id", String, "账单编号")
        .col("cust_no", String, "户号")
        .col("org_id", String, "供电所")
        .col("pay_time", Timestamp, "缴费时间")
        .col("amount", Money, "实收电费")
        .col(
            "channel",
            String,
            "缴费渠道：代扣/网上国网/柜台/走收/卡表购电",
        )
        .col("late_fee", Money, "违约金")
        .col("bank_acct", String, "到账账户")
        .col("arrive_date", Date, "到账日期")
        .keep_date()
        .col("voucher_id", String, "汇总入账凭证")
        .col("reversal_flag", String, "冲正标志：冲正/冲红/空")
        .key(&["rcpt_id"])
        .period("pay_time")
        .org("org_id")
        .build()
}

fn power_purchase() -> Def {
    def("power_purchase", "营销电费", "购电结算（按电厂、月份）")
        .col("plant_id", String, "电厂编号")
        .col("month", String, "结算年月")
        .col("supp_id", String, "电厂供应商编码")
        .col("plant_name", String, "电厂名称")
        .pad()
        .col("source_type", String, "电源类型：火/水/风/光")
        .col("kwh", Decimal, "上网电量（kWh）")
        .col("price", Decimal, "结算电价（元/kWh）")
        .col("amount", Money, "购电费（含税）")
        .col("subsidy", Money, "可再生能源补贴")
        .col("invoice_no", String, "发票号码")
        .col("pay_id", String, "付款单号")
        .key(&["plant_id", "month"])
        .period("month")
        .build()
}

fn contract() -> Def {
    def("contract", "物资", "采购/施工/服务/购电合同")
        .col("contract_id", String, "合同编号")
        .col("type", String, "合同类型：物资/服务/施工/购电")
        .col("supp_id", String, "供应商")
        .col("proj_id", String, "项目")
        .col("org_id", String, "签约单位")
        .col("sign_date", Date, "签订日期")
        .col("amount", Money, "合同金额（含税）")
        .col("pay_terms", String, "付款条款（节点及比例）")
        .col("plan_delivery_date", Date, "计划交货/完工日期")
        .col("name", String, "合同名称")
        .pad()
        .key(&["contract_id"])
        .period("sign_date")
        .org("org_id")
        .build()
}

fn ap_invoice() -> Def {
    def("ap_invoice", "物资", "应付发票（供应商发票及挂账）")
        .col("inv_id", String, "应付单号")
        .col("supp_id", String, "供应商")
        .col("contract_id", String, "合同编号")
        .col("org_id", String, "单位")
        .col("invoice_no", String, "发票号码")
        .col("inv_date", Date, "开票日期")
        .col("net", Money, "不含税金额")
        .col("tax", Money, "税额")
        .col("rate", Decimal, "税率")
        .col("verify_status", String, "认证状态")
        .col("received_date", Date, "收票日期")
        .col("booked_date", Date, "挂账日期")
        .keep_date()
        .col("due_date", Date, "应付到期日")
        .keep_date()
        .col("paid_amt", Money, "已付金额")
        .col("voucher_id", String, "挂账凭证")
        .key(&["inv_id"])
        .period("booked_date")
        .org("org_id")
        .build()
}

fn material_move() -> Def {
    def("material_move", "物资", "物资出入库单")
        .col("doc_id", String, "单据号")
        .col("mat_code", String, "物料编码")
        .col("warehouse", String, "仓库")
        .col("org_id", String, "单位")
        .col("move_type", String, "移动类型：入库/领用/退库/调拨")
        .col("qty", Decimal, "数量")
        .col("amount", Money, "金额")
        .col("proj_id", String, "项目")
        .col("date", Date, "过账日期")
        .keep_date()
        .col("voucher_id", String, "凭证编号")
        .key(&["doc_id"])
        .period("date")
        .org("org_id")
        .build()
}

fn inventory_balance() -> Def {
    def(
        "inventory_balance",
        "物资",
        "库存余额（按期间、仓库、物料）",
    )
    .col("period", String, "期间")
    .col("warehouse", String, "仓库")
    .col("org_id", String, "单位")
    .col("mat_code", String, "物料编码")
    .col("open_amt", Money, "期初金额")
    .col("in_amt", Money, "本期入库金额")
    .col("out_amt", Money, "本期出库金额")
    .col("close_amt", Money, "期末金额")
    .col("close_qty", Decimal, "期末数量")
    .key(&["period", "warehouse", "mat_code"])
    .period("period")
    .org("org_id")
    .build()
}

fn fixed_asset() -> Def {
    def("fixed_asset", "资产", "固定资产卡片")
        .col("asset_id", String, "资产编号")
        .col("name", String, "资产名称")
        .pad()
        .col("class", String, "资产类别")
        .col("org_id", String, "使用单位")
        .col("proj_id", String, "来源项目")
        .col("cap_date", Date, "资本化日期")
        .keep_date()
        .col("orig_value", Money, "原值")
        .col("accum_depr", Money, "累计折旧（截至批次日）")
        .col("life_m", Int, "折旧年限（月）")
        .col("residual_rate", Decimal, "残值率")
        .col("status", String, "资产状态")
        .key(&["asset_id"])
        .org("org_id")
        .build()
}

fn asset_depr() -> Def {
    def("asset_depr", "资产", "固定资产月折旧明细")
        .col("asset_id", String, "资产编号")
        .col("period", String, "期间")
        .col("org_id", String, "使用单位")
        .col("depr_amt", Money, "本月折旧")
        .col("accum", Money, "累计折旧")
        .col("nbv", Money, "净值")
        .key(&["asset_id", "period"])
        .period("period")
        .org("org_id")
        .build()
}

fn tax_invoice() -> Def {
    def("tax_invoice", "税务", "增值税发票（销项/进项）")
        .col("inv_no", String, "发票号码")
        .col("direction", String, "方向：销/进")
        .col("org_id", String, "单位")
        .col("counterparty", String, "对方名称")
        .pad()
        .col("date", Date, "开票日期")
        .col("net", Money, "不含税金额")
        .col("tax", Money, "税额")
        .col("rate", Decimal, "税率")
        .col("status", String, "状态：正常/红冲/作废/异常")
        .col("source_doc_id", String, "关联单据")
        .key(&["inv_no"])
        .period("date")
        .org("org_id")
        .build()
}

fn payroll() -> Def {
    def("payroll", "人资", "工资发放明细")
        .col("emp_id", String, "员工编号")
        .col("period", String, "期间")
        .col("org_id", String, "会计主体")
        .col("gross", Money, "应发工资")
        .col("social_ins", Money, "个人社保")
        .col("housing_fund", Money, "个人公积金")
        .col("iit", Money, "个人所得税")
        .col("net", Money, "实发工资")
        .col("cost_center", String, "成本中心")
        .key(&["emp_id", "period"])
        .period("period")
        .org("org_id")
        .build()
}

fn shared_work_order() -> Def {
    def("shared_work_order", "共享运营", "财务共享中心工单")
        .col("wo_id", String, "工单号")
        .col("doc_type", String, "单据类型")
        .col("source_doc_id", String, "来源单据号")
        .col("org_id", String, "单位")
        .col("receive_time", Timestamp, "接收时间")
        .col("assign_time", Timestamp, "派单时间")
        .col("done_time", Timestamp, "完成时间")
        .col("auditor", String, "审核人")
        .col("result", String, "结果：通过/退回")
        .col("reject_reason", String, "退回原因")
        .col("auto_flag", Bool, "是否智能审核/RPA")
        .key(&["wo_id"])
        .period("receive_time")
        .org("org_id")
        .build()
}

fn expense_claim() -> Def {
    def("expense_claim", "共享运营", "费用报销单")
        .col("claim_id", String, "报销单号")
        .col("org_id", String, "会计主体")
        .col("emp_id", String, "报销人")
        .col("dept", String, "部门")
        .col(
            "claim_type",
            String,
            "报销类型：差旅/会议/招待/办公/培训/车辆/其他",
        )
        .col("submit_date", Date, "提交日期")
        .col("approve_date", Date, "审批日期")
        .col("amount", Money, "报销金额")
        .col("std_amount", Money, "报销标准金额")
        .col("budget_item", String, "预算项目")
        .col("status", String, "状态：草稿/审批中/已审/已付/退回")
        .col("voucher_id", String, "凭证编号")
        .col("pay_id", String, "付款单号")
        .col("reason", String, "事由")
        .pad()
        .key(&["claim_id"])
        .period("submit_date")
        .org("org_id")
        .build()
}

fn expense_claim_line() -> Def {
    def("expense_claim_line", "共享运营", "费用报销单明细（发票行）")
        .col("claim_id", String, "报销单号")
        .col("line_no", Int, "行号")
        .col("expense_item", String, "费用项目")
        .col("invoice_no", String, "发票号码")
        .col("invoice_date", Date, "发票日期")
        .keep_date()
        .col("amount", Money, "金额（不含税）")
        .col("tax", Money, "税额")
        .col("remark", String, "备注")
        .pad()
        .key(&["claim_id", "line_no"])
        .build()
}

/// The dictionary tables for old codes (dirt kind `dirty:old_code`).
pub fn write_code_maps(out: &mut Out) -> Result<()> {
    let d = def(
        "code_map_elec_category",
        "营销电费",
        "用电类别新旧代码对照（营销2.0切换）",
    )
    .col("old_code", String, "旧代码")
    .col("new_code", String, "新代码")
    .col("name", String, "用电类别名称")
    .col("valid_from", Date, "新代码启用日期")
    .key(&["old_code"])
    .build();
    let mut t = out.open(d, 4, true)?;
    for ((old, new), name) in
        ELEC_CATEGORY_CODES
            .iter()
            .zip(["居民", "一般工商业", "大工业", "农业"])
    {
        t.rec.start().s(old).s(new).s(name).s("2023-01-01");
        t.emit(out)?;
    }
    out.close(t)?;
    let d = def("code_map_bank", "资金", "银行行别新旧代码对照")
        .col("old_code", String, "旧代码")
        .col("new_code", String, "新代码（CNAPS行别）")
        .col("bank_name", String, "银行名称")
        .key(&["old_code"])
        .build();
    let mut t = out.open(d, 5, true)?;
    for ((old, new), name) in BANK_CODES.iter().zip([
        "中国工商银行",
        "中国农业银行",
        "中国银行",
        "中国建设银行",
        "交通银行",
    ]) {
        t.rec.start().s(old).s(new).s(name);
        t.emit(out)?;
    }
    out.close(t)?;
    Ok(())
}
