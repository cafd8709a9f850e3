"""A deterministic, realistic demo portfolio written as import files (CONTRACT.md).

``generate_demo(out_dir, customers=..., as_of=...)`` writes ``customers.csv``,
``invoices.csv``, ``payments.csv``, ``charges.csv`` and ``events.jsonl``. The same
arguments always give byte-identical files; a different seed gives different ones.

How the portfolio is made (PROCESS.md §4):

* every customer gets a hidden profile (:func:`draw_profile`): segment, settlement,
  terms, a payer type -- (a) pays within terms unprompted, (b) pays when reminded,
  (c) pays only under pressure, late and often partially, (d) never pays -- and a
  few chronically late statement confirmers;
* ``months`` billing months before the month of ``as_of`` are invoiced; the
  per-invoice customers are also invoiced in the current month up to ``as_of``;
* deliveries of the current month (and of the previous month when its invoice is
  not issued yet at ``as_of``) are written as charges to be billed;
* payments follow the payer type and are replayed, per customer, in
  (received_on, payment_id) order with the importer's allocation rule (a named
  invoice first; without one, the oldest open invoices by due_on, issued_on,
  invoice_id), so that no payment ever exceeds what is owed at that moment;
* events (contacts with the six excuses 躲拉赖拖推磨, promises kept / broken /
  running, disputes opened and resolved) are derived from what actually happened.

Internally money is integer cents (exact; a float is used only to draw a random
size before it is turned into cents) and is written with exactly two decimals.
Each customer draws from its own ``random.Random`` seeded by (seed, index), so the
files stream: customers, invoices and charges are written as they are made,
payments and events go through per-month bucket files in a temporary directory
inside ``out_dir`` and are sorted bucket by bucket (payment ids increase with the
received date: ``PAY-000001`` is the earliest).
"""

from __future__ import annotations

import csv
import json
import math
import random
import tempfile
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "CHARGE_COLUMNS",
    "CUSTOMER_COLUMNS",
    "CustomerProfile",
    "DemoFiles",
    "EXCUSES",
    "INVOICE_COLUMNS",
    "PAYMENT_COLUMNS",
    "customer_rng",
    "draw_profile",
    "generate_demo",
    "to_decimal",
]

CUSTOMER_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "name",
    "email",
    "phone",
    "contact_name",
    "contact_title",
    "locale",
    "country",
    "settlement",
    "payment_terms_days",
    "credit_limit",
    "segment",
    "currency",
    "collector",
)
INVOICE_COLUMNS: tuple[str, ...] = ("invoice_id", "customer_id", "issued_on", "due_on", "amount", "currency")
PAYMENT_COLUMNS: tuple[str, ...] = ("payment_id", "customer_id", "received_on", "amount", "invoice_id")
CHARGE_COLUMNS: tuple[str, ...] = ("charge_id", "customer_id", "delivered_on", "amount", "description", "receipt_received_on")

#: The six excuses of the handbook: 躲 dodging, 拉 stalling on the relationship,
#: 赖 denying the debt, 拖 delaying, 推 shifting blame, 磨 wearing you down.
EXCUSES: dict[str, str] = {"duo": "躲", "la": "拉", "lai": "赖", "tuo": "拖", "tui": "推", "mo": "磨"}

_PROGRESS_STEP = 1000


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class DemoFiles:
    customers: Path
    invoices: Path
    payments: Path
    charges: Path
    events: Path
    counts: dict[str, int]


# --------------------------------------------------------------------------- weighted picks


class _Weighted:
    __slots__ = ("items", "cum", "total")

    def __init__(self, pairs: Sequence[tuple[Any, float]]) -> None:
        items, cum, total = [], [], 0.0
        for item, weight in pairs:
            if weight > 0:
                total += weight
                items.append(item)
                cum.append(total)
        self.items = tuple(items)
        self.cum = tuple(cum)
        self.total = total

    def pick(self, rng: random.Random) -> Any:
        i = bisect_right(self.cum, rng.random() * self.total)
        return self.items[min(i, len(self.items) - 1)]


def _ri(rng: random.Random, lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi] (faster than randint)."""
    return lo + int(rng.random() * (hi - lo + 1))


# --------------------------------------------------------------------------- profile

_COUNTRIES = _Weighted((("US", 35), ("DE", 25), ("JP", 20), ("SG", 20)))
_SEGMENTS = _Weighted((("key", 10), ("ordinary", 70), ("high_risk", 12), ("small", 8)))
# Payer type by segment; the marginal mix is a 44% / b 30% / c 17% / d 8%.
_PAYERS = {
    "key": _Weighted((("a", 60), ("b", 30), ("c", 10))),
    "ordinary": _Weighted((("a", 47), ("b", 31), ("c", 16), ("d", 6))),
    "high_risk": _Weighted((("a", 15), ("b", 25), ("c", 30), ("d", 30))),
    "small": _Weighted((("a", 45), ("b", 30), ("c", 17), ("d", 8))),
}
_SETTLEMENTS = _Weighted((("monthly_statement", 70), ("per_receipt", 15), ("per_invoice", 15)))
_TERMS = _Weighted(((30, 70), (15, 8), (45, 12), (60, 10)))
# Median monthly billing in CNY and the spread (sigma of the log).
_VOLUME = {"key": (260_000, 0.55), "ordinary": (38_000, 0.8), "high_risk": (30_000, 0.8), "small": (9_000, 0.6)}
_USD_RATE = 7.1


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """The hidden traits a demo customer is generated from."""

    foreign: bool
    country: str
    locale: str
    currency: str
    segment: str
    payer: str  # "a" on time, "b" when reminded, "c" under pressure, "d" never
    settlement: str
    terms: int
    late_confirmer: bool
    unnamed_payments: bool  # sometimes pays without naming the invoice (never has disputes/promises)
    collector: str
    monthly_cents: int


def customer_rng(seed: int, index: int) -> random.Random:
    """The random stream of customer number ``index`` (1-based) for ``seed``."""
    return random.Random(f"huikuan-demo:{seed}:{index}")


def draw_profile(rng: random.Random) -> CustomerProfile:
    """Draw a customer's hidden profile; the first draws of :func:`customer_rng`."""
    foreign = rng.random() < 0.05
    country = _COUNTRIES.pick(rng) if foreign else "CN"
    if foreign:
        currency = "USD" if country in ("US", "SG") or rng.random() < 0.5 else "CNY"
    else:
        currency = "CNY"
    segment = _SEGMENTS.pick(rng)
    payer = _PAYERS[segment].pick(rng)
    settlement = _SETTLEMENTS.pick(rng)
    terms = _TERMS.pick(rng)
    late_confirmer = settlement != "per_invoice" and rng.random() < (0.03 if payer == "a" else 0.09)
    unnamed = payer in ("a", "b") and rng.random() < 0.25
    collector = f"c0{1 + int(rng.random() * 6)}"
    median, sigma = _VOLUME[segment]
    yuan = median * math.exp(rng.gauss(0.0, sigma))
    yuan = min(max(yuan, 3_000.0), 2_500_000.0)
    if currency == "USD":
        yuan /= _USD_RATE
    monthly_cents = int(yuan * 100)
    return CustomerProfile(
        foreign=foreign,
        country=country,
        locale="en" if foreign else "zh_CN",
        currency=currency,
        segment=segment,
        payer=payer,
        settlement=settlement,
        terms=terms,
        late_confirmer=late_confirmer,
        unnamed_payments=unnamed,
        collector=collector,
        monthly_cents=monthly_cents,
    )


# --------------------------------------------------------------------------- names

_REGIONS = (
    ("上海", "shanghai"),
    ("北京", "beijing"),
    ("广州", "guangzhou"),
    ("深圳", "shenzhen"),
    ("苏州", "suzhou"),
    ("杭州", "hangzhou"),
    ("宁波", "ningbo"),
    ("南京", "nanjing"),
    ("无锡", "wuxi"),
    ("常州", "changzhou"),
    ("成都", "chengdu"),
    ("重庆", "chongqing"),
    ("武汉", "wuhan"),
    ("天津", "tianjin"),
    ("青岛", "qingdao"),
    ("厦门", "xiamen"),
    ("东莞", "dongguan"),
    ("佛山", "foshan"),
    ("温州", "wenzhou"),
    ("合肥", "hefei"),
    ("长沙", "changsha"),
    ("郑州", "zhengzhou"),
    ("西安", "xian"),
    ("济南", "jinan"),
    ("昆山", "kunshan"),
    ("嘉兴", "jiaxing"),
    ("绍兴", "shaoxing"),
    ("台州", "taizhou"),
    ("泉州", "quanzhou"),
    ("福州", "fuzhou"),
    ("南通", "nantong"),
    ("扬州", "yangzhou"),
    ("烟台", "yantai"),
    ("大连", "dalian"),
    ("沈阳", "shenyang"),
    ("中山", "zhongshan"),
    ("珠海", "zhuhai"),
    ("惠州", "huizhou"),
    ("金华", "jinhua"),
    ("义乌", "yiwu"),
)
_TRADE_CHARS = (
    ("华", "hua"),
    ("鑫", "xin"),
    ("盛", "sheng"),
    ("达", "da"),
    ("恒", "heng"),
    ("瑞", "rui"),
    ("泰", "tai"),
    ("宏", "hong"),
    ("源", "yuan"),
    ("通", "tong"),
    ("昌", "chang"),
    ("隆", "long"),
    ("兴", "xing"),
    ("德", "de"),
    ("利", "li"),
    ("丰", "feng"),
    ("祥", "xiang"),
    ("嘉", "jia"),
    ("裕", "yu"),
    ("诚", "cheng"),
    ("信", "xin"),
    ("永", "yong"),
    ("安", "an"),
    ("佳", "jia"),
    ("博", "bo"),
    ("创", "chuang"),
    ("海", "hai"),
    ("天", "tian"),
    ("金", "jin"),
    ("联", "lian"),
    ("合", "he"),
    ("凯", "kai"),
    ("润", "run"),
    ("新", "xin"),
    ("远", "yuan"),
    ("明", "ming"),
    ("和", "he"),
    ("正", "zheng"),
    ("东", "dong"),
    ("宇", "yu"),
    ("辰", "chen"),
    ("威", "wei"),
)
# (name part, pinyin, is logistics)
_INDUSTRIES = (
    ("机械", "jixie", False),
    ("电子", "dianzi", False),
    ("包装", "baozhuang", False),
    ("化工", "huagong", False),
    ("物流", "wuliu", True),
    ("建材", "jiancai", False),
    ("纺织", "fangzhi", False),
    ("食品", "shipin", False),
    ("五金", "wujin", False),
    ("塑胶", "sujiao", False),
    ("模具", "moju", False),
    ("电气", "dianqi", False),
    ("汽配", "qipei", False),
    ("印刷", "yinshua", False),
    ("家具", "jiaju", False),
    ("医疗器械", "yiliao", False),
    ("新材料", "xincailiao", False),
    ("环保科技", "huanbao", False),
    ("照明", "zhaoming", False),
    ("供应链", "gongyinglian", True),
)
_SUFFIXES = _Weighted((("有限公司", 70), ("股份有限公司", 15), ("贸易有限公司", 15)))
_SURNAMES = (
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("林", "lin"),
    ("罗", "luo"),
    ("高", "gao"),
    ("郑", "zheng"),
    ("梁", "liang"),
    ("谢", "xie"),
    ("宋", "song"),
    ("唐", "tang"),
    ("许", "xu"),
    ("韩", "han"),
    ("冯", "feng"),
    ("邓", "deng"),
    ("曹", "cao"),
)
_GIVEN_CHARS = (
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("娟", "juan"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀", "xiu"),
    ("霞", "xia"),
    ("平", "ping"),
    ("刚", "gang"),
    ("英", "ying"),
    ("华", "hua"),
    ("建", "jian"),
    ("国", "guo"),
    ("文", "wen"),
    ("红", "hong"),
    ("玲", "ling"),
    ("晓", "xiao"),
    ("燕", "yan"),
    ("丹", "dan"),
    ("鹏", "peng"),
    ("辉", "hui"),
    ("婷", "ting"),
    ("雪", "xue"),
    ("琳", "lin"),
    ("浩", "hao"),
    ("宇", "yu"),
    ("欣", "xin"),
    ("慧", "hui"),
)
_ZH_TITLES = _Weighted((("财务经理", 30), ("采购经理", 12), ("出纳", 15), ("会计", 20), ("总经理", 8), ("财务主管", 15)))
_EN_TITLES = _Weighted(
    (("Finance Manager", 30), ("Accounts Payable", 25), ("Purchasing Manager", 15), ("Controller", 15), ("CFO", 5), ("Managing Director", 10))
)
_MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "173",
    "176",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "198",
    "199",
)
_EN_WORDS = (
    "Northwind",
    "Blue Ridge",
    "Pacific",
    "Summit",
    "Lakeside",
    "Redwood",
    "Granite",
    "Harbor",
    "Evergreen",
    "Atlas",
    "Silverline",
    "Keystone",
    "Meridian",
    "Crescent",
    "Horizon",
    "Orchard",
    "Riverside",
    "Sterling",
    "Vanguard",
    "Westfield",
    "Rhein",
    "Alpine",
    "Sakura",
    "Fuji",
    "Lion City",
    "Marina",
    "Eastgate",
    "Bluewater",
    "Oakridge",
    "Cedar",
)
_EN_QUALIFIERS = ("", "", "Precision", "Global", "International", "Trading", "Industrial", "Asia")
_EN_INDUSTRIES = (
    ("Machinery", False),
    ("Electronics", False),
    ("Packaging", False),
    ("Chemicals", False),
    ("Logistics", True),
    ("Building Materials", False),
    ("Textiles", False),
    ("Foods", False),
    ("Components", False),
    ("Plastics", False),
    ("Tooling", False),
    ("Medical Devices", False),
)
_EN_SUFFIX = {"US": ("Inc.", "LLC", "Corp."), "DE": ("GmbH", "AG"), "JP": ("Co., Ltd.", "K.K."), "SG": ("Pte. Ltd.",)}
_EN_PEOPLE = {
    "US": (
        ("James", "Mary", "John", "Linda", "Michael", "Sarah", "David", "Emily", "Robert", "Karen"),
        ("Smith", "Johnson", "Miller", "Brown", "Davis", "Wilson", "Taylor", "Anderson", "Moore", "Clark"),
    ),
    "DE": (
        ("Thomas", "Julia", "Stefan", "Anna", "Klaus", "Laura", "Markus", "Katrin", "Jens", "Sabine"),
        ("Mueller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann", "Koch", "Richter"),
    ),
    "JP": (
        ("Kenji", "Yuki", "Hiroshi", "Naomi", "Takashi", "Aiko", "Satoshi", "Emi", "Daisuke", "Mika"),
        ("Tanaka", "Suzuki", "Sato", "Takahashi", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi", "Kato"),
    ),
    "SG": (
        ("Wei Ming", "Grace", "Kevin", "Mei Ling", "Daniel", "Priya", "Rajesh", "Jasmine", "Marcus", "Hui Min"),
        ("Tan", "Lim", "Lee", "Ng", "Wong", "Goh", "Chua", "Koh", "Teo", "Ong"),
    ),
}
_EN_PHONE = {"US": ("+1", 10), "DE": ("+49", 10), "JP": ("+81", 10), "SG": ("+65", 8)}


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum())


# --------------------------------------------------------------------------- notes

# (result, excuse) -> (zh variants, en variants)
_NOTES: dict[tuple[str, str | None], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("reached", None): (
        ("已提醒付款，客户确认会安排", "电话联系财务，对方表示已提交付款申请", "已发送催款邮件并电话确认对方收到", "客户财务确认欠款金额无误，正在走付款流程"),
        (
            "Reminded the customer; payment is being arranged",
            "Spoke to finance; the payment request is submitted",
            "Sent the dunning email and confirmed by phone that it was received",
        ),
    ),
    ("unreachable", None): (("电话无人接听，已留言", "邮件未回复，电话占线"), ("No answer, left a voicemail", "No reply to the email, line busy")),
    ("reached", "tuo"): (
        ("客户称本月资金紧张，希望延后付款", "财务称付款要排到下一个付款周期", "客户称等这批货款回笼后再付"),
        ("Customer says cash is tight this month and asks to pay later", "Finance says the payment is scheduled for the next payment run"),
    ),
    ("reached", "tui"): (
        ("财务称需老板签字，老板出差未归", "客户称上游客户尚未回款，暂时无法付款", "对接人称已转交采购部处理，需等对方回复"),
        ("Finance says the owner must sign and is travelling", "Customer says their own customer has not paid them yet"),
    ),
    ("reached", "mo"): (
        ("客户反复要求重新对账，迟迟不确认付款", "客户要求给予折扣后再付款", "客户要求补充送货单据后再议"),
        ("Customer keeps asking to re-check the statement", "Customer asks for a discount before paying"),
    ),
    ("reached", "la"): (
        ("客户强调多年合作关系，请求再宽限一段时间", "客户约业务员吃饭叙旧，回避付款时间"),
        ("Customer stresses the long relationship and asks for more time", "Customer invites the sales rep to dinner and avoids naming a date"),
    ),
    ("reached", "lai"): (
        ("客户否认欠款金额，称已全部结清", "客户称未收到发票，不认可该笔欠款"),
        ("Customer denies the amount and says everything is paid", "Customer claims no invoice was received"),
    ),
    ("unreachable", "duo"): (
        ("电话无人接听，微信未回复", "前台称财务经理出差，无法联系", "多次致电均被挂断"),
        ("Calls not answered, messages ignored", "Reception says the finance manager is away", "Calls are cut off every time"),
    ),
    ("refused", "lai"): (
        ("客户拒绝付款，称货款早已结清", "客户拒绝承认欠款，要求我方提供证据"),
        ("Customer refuses to pay and claims the goods were paid long ago", "Customer refuses to acknowledge the debt"),
    ),
    ("refused", "mo"): (
        ("客户拒绝付款，要求先解决其他订单的问题", "客户拒绝付款，坚持要求降价"),
        ("Customer refuses to pay until other orders are settled", "Customer refuses to pay without a price cut"),
    ),
    ("refused", None): (("客户明确拒绝付款",), ("Customer flatly refuses to pay",)),
}
# Notes that only fit one channel, used instead of the general ones above.
_CHANNEL_NOTES: dict[tuple[str, str, str | None], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("email", "reached", None): (
        ("客户回复邮件，确认收到催款函并答应尽快安排付款", "已转发财务催款邮件，客户回复已提交付款审批"),
        ("Customer answered the dunning email and will arrange payment", "Forwarded finance's dunning email; customer replied the payment is in approval"),
    ),
    ("email", "unreachable", "duo"): (
        ("催款邮件多次发送均未回复", "邮件被退回，客户财务邮箱已停用"),
        ("Several dunning emails, no reply", "Email bounced: the finance mailbox is closed"),
    ),
    ("visit", "unreachable", "duo"): (
        ("上门未见到负责人，前台称不在", "上门拜访，对方称老板外出，让改天再来"),
        ("On-site visit: nobody in charge was there", "On-site visit: told the owner is out, come back later"),
    ),
}
_VISIT_PREFIX = ("上门拜访：", "On-site visit: ")
_STATEMENT_NOTES = {
    "mo": ("对账单已发出，客户称仍在核对，尚未确认", "Statement sent; customer still checking it, not confirmed"),
    "tuo": ("客户财务称本周内确认对账单", "Customer's finance says they will confirm the statement this week"),
    "visit": ("上门沟通对账单确认及开票信息", "On-site visit about confirming the statement and the invoicing details"),
}
_BROKEN_NOTES = (
    ("客户爽约，承诺日期已过仍未付款", "Promise broken: the date has passed without payment"),
    ("客户未按承诺付款，称还要再等几天", "Customer did not pay as promised and asks for a few more days"),
)
_RESOLVED_NOTE = ("异议已核实解决，客户同意安排付款", "Dispute settled; customer agrees to pay")
_DISPUTE_REASONS = (
    ("数量与送货单不符", "Quantity differs from the delivery note"),
    ("单价与合同约定不一致", "Unit price differs from the contract"),
    ("部分货物存在质量问题", "Quality problem on part of the goods"),
    ("发票抬头或税号有误", "Wrong invoice title or tax id"),
    ("未收到发票原件", "Original invoice not received"),
    ("对账单金额与客户账目有差异", "Statement amount differs from the customer's books"),
)
_DENIAL_REASONS = (("客户否认收到该批货物", "Customer denies receiving the goods"), ("客户称该笔货款已经支付", "Customer claims the invoice was already paid"))
# (channel, result, excuse) by payer type, for ordinary follow-ups of an overdue invoice.
_CONTACTS = {
    "a": _Weighted(((("email", "reached", None), 70), (("phone", "reached", None), 30))),
    "b": _Weighted(
        (
            (("phone", "reached", None), 55),
            (("email", "reached", None), 20),
            (("phone", "unreachable", None), 10),
            (("phone", "reached", "tuo"), 10),
            (("phone", "reached", "tui"), 5),
        )
    ),
    "c": _Weighted(
        (
            (("phone", "reached", "tuo"), 20),
            (("phone", "reached", "tui"), 15),
            (("phone", "unreachable", "duo"), 14),
            (("email", "unreachable", "duo"), 6),
            (("phone", "refused", "mo"), 8),
            (("visit", "reached", "la"), 7),
            (("phone", "reached", "mo"), 10),
            (("email", "reached", None), 10),
            (("visit", "reached", "tuo"), 5),
            (("phone", "reached", "la"), 5),
        )
    ),
    "d": _Weighted(
        (
            (("phone", "unreachable", "duo"), 35),
            (("email", "unreachable", "duo"), 15),
            (("phone", "refused", "lai"), 20),
            (("visit", "unreachable", "duo"), 10),
            (("phone", "reached", "lai"), 15),
            (("phone", "refused", None), 5),
        )
    ),
}
_CHARGE_SERVICES = (("运输服务", "Freight"), ("安装调试服务", "Installation service"), ("加工费", "Processing fee"))
_LOGISTICS_SERVICES = (("运输服务", "Freight"), ("仓储服务费", "Warehousing"), ("装卸服务", "Handling"), ("城市配送", "City delivery"))


# --------------------------------------------------------------------------- dates


def _next_workday(o: int) -> int:
    w = (o - 1) % 7  # date.fromordinal(1) is a Monday
    return o + 2 if w == 5 else o + 1 if w == 6 else o


def _prev_workday(o: int) -> int:
    w = (o - 1) % 7
    return o - 1 if w == 5 else o - 2 if w == 6 else o


def _nearest_workday(o: int) -> int:
    w = (o - 1) % 7
    return o - 1 if w == 5 else o + 1 if w == 6 else o


def _month_start(mi: int) -> int:
    return date(mi // 12, mi % 12 + 1, 1).toordinal()


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _round_down(cents: int, step: int) -> int:
    return cents // step * step


# --------------------------------------------------------------------------- the generator


class _Invoice:
    __slots__ = ("id", "issued", "due", "amount", "open", "pays", "dispute_on", "dispute_end", "promise_until")

    def __init__(self, issued: int, due: int, amount: int) -> None:
        self.id = ""
        self.issued = issued
        self.due = due
        self.amount = amount
        self.open = amount
        self.pays: list[tuple[int, int]] = []
        self.dispute_on: int | None = None
        self.dispute_end: int | None = None  # resolution day; None = open for good
        self.promise_until = 0

    def open_at(self, o: int) -> int:
        return self.amount - sum(a for d, a in self.pays if d <= o)

    def disputed_on(self, o: int) -> bool:
        if self.dispute_on is None or o < self.dispute_on:
            return False
        return self.dispute_end is None or o <= self.dispute_end

    def full_on(self) -> int | None:
        if self.open > 0:
            return None
        return self.pays[-1][0]


class _Events:
    """One customer's events: at most one contact a day, then promises and disputes."""

    __slots__ = ("cid", "en", "contacts", "others")

    def __init__(self, cid: str, en: bool) -> None:
        self.cid = cid
        self.en = en
        self.contacts: dict[int, tuple[bool, dict[str, Any]]] = {}
        self.others: list[tuple[int, dict[str, Any]]] = []

    def contact(self, o: int, channel: str, result: str, note: str, excuse: str | None, strong: bool = False) -> None:
        old = self.contacts.get(o)
        if old is not None and (old[0] or not strong):
            return
        self.contacts[o] = (strong, {"kind": "contact", "customer_id": self.cid, "on": o, "channel": channel, "result": result, "note": note, "excuse": excuse})

    def other(self, o: int, event: dict[str, Any]) -> None:
        self.others.append((o, event))


class _Generator:
    def __init__(self, seed: int, as_of: date, months: int, tmp: Path) -> None:
        self.seed = seed
        self.as_of = as_of.toordinal()
        self.as_of_mi = as_of.year * 12 + as_of.month - 1
        self.months = months
        self.tmp = tmp
        self.iso_cache: dict[int, str] = {}
        self.used_names: set[str] = set()
        self.invoice_seq: dict[int, int] = {}
        self.charge_seq = 0
        self.counts = {"customers": 0, "invoices": 0, "payments": 0, "charges": 0, "events": 0}
        self.pay_buckets: dict[int, TextIO] = {}
        self.event_buckets: dict[int, TextIO] = {}
        self.month_starts = {mi: _month_start(mi) for mi in range(self.as_of_mi - months, self.as_of_mi + 2)}

    # ---------------------------------------------------------------- helpers

    def iso(self, o: int) -> str:
        s = self.iso_cache.get(o)
        if s is None:
            s = self.iso_cache[o] = date.fromordinal(o).isoformat()
        return s

    def day_in(self, rng: random.Random, lo: int, hi: int) -> int | None:
        """A working day in [lo, hi] (or None when there is none)."""
        if hi < lo:
            return None
        o = _prev_workday(lo + int(rng.random() * (hi - lo + 1)))
        if o < lo:
            o = _next_workday(lo)
        return o if o <= hi else None

    def bucket(self, buckets: dict[int, TextIO], prefix: str, o: int) -> TextIO:
        d = date.fromordinal(o)
        key = d.year * 12 + d.month - 1
        f = buckets.get(key)
        if f is None:
            f = buckets[key] = open(self.tmp / f"{prefix}-{key}.txt", "w", encoding="utf-8", newline="\n")
        return f

    # ---------------------------------------------------------------- identity

    def identity(self, rng: random.Random, prof: CustomerProfile, index: int) -> tuple[list[str], bool]:
        """Name, email, phone, contact and title; and whether the trade is logistics."""
        if prof.foreign:
            return self.foreign_identity(rng, prof, index)
        for attempt in range(60):
            region, _ = _REGIONS[int(rng.random() * len(_REGIONS))]
            i = int(rng.random() * len(_TRADE_CHARS))
            j = int(rng.random() * (len(_TRADE_CHARS) - 1))
            j += j >= i
            t1, p1 = _TRADE_CHARS[i]
            t2, p2 = _TRADE_CHARS[j]
            industry, ind_py, logistics = _INDUSTRIES[int(rng.random() * len(_INDUSTRIES))]
            suffix = _SUFFIXES.pick(rng)
            name = f"{region}{t1}{t2}{industry}{suffix}"
            if attempt == 59:
                name = f"{region}{t1}{t2}{industry}第{index}分公司"
            if name not in self.used_names:
                break
        self.used_names.add(name)
        surname, s_py = _SURNAMES[int(rng.random() * len(_SURNAMES))]
        g1, g1_py = _GIVEN_CHARS[int(rng.random() * len(_GIVEN_CHARS))]
        given, g_py = (g1, g1_py)
        if rng.random() < 0.6:
            g2, g2_py = _GIVEN_CHARS[int(rng.random() * len(_GIVEN_CHARS))]
            given, g_py = g1 + g2, g1_py + g2_py
        title = _ZH_TITLES.pick(rng)
        domain = f"{p1}{p2}-{ind_py}.example.cn"
        r = rng.random()
        if r < 0.5:
            local = f"{s_py}.{g_py}"
        elif r < 0.8:
            local = "finance" if title in ("财务经理", "财务主管", "会计", "出纳") else "purchase" if title == "采购经理" else "gm"
        else:
            local = f"{s_py}{g_py}{_ri(rng, 1, 99):02d}"
        phone = _MOBILE_PREFIXES[int(rng.random() * len(_MOBILE_PREFIXES))] + f"{int(rng.random() * 100_000_000):08d}"
        return [name, f"{local}@{domain}", phone, surname + given, title], logistics

    def foreign_identity(self, rng: random.Random, prof: CustomerProfile, index: int) -> tuple[list[str], bool]:
        country = prof.country
        firsts, lasts = _EN_PEOPLE[country]
        suffixes = _EN_SUFFIX[country]
        for attempt in range(60):
            if rng.random() < 0.3:
                base = f"{lasts[int(rng.random() * len(lasts))]} & {lasts[int(rng.random() * len(lasts))]}"
            else:
                base = _EN_WORDS[int(rng.random() * len(_EN_WORDS))]
            qualifier = _EN_QUALIFIERS[int(rng.random() * len(_EN_QUALIFIERS))]
            industry, logistics = _EN_INDUSTRIES[int(rng.random() * len(_EN_INDUSTRIES))]
            suffix = suffixes[int(rng.random() * len(suffixes))]
            words = " ".join(w for w in (base, qualifier, industry) if w)
            if attempt == 59:
                words = f"{words} {index}"
            name = f"{words} {suffix}"
            if name not in self.used_names:
                break
        self.used_names.add(name)
        first = firsts[int(rng.random() * len(firsts))]
        last = lasts[int(rng.random() * len(lasts))]
        title = _EN_TITLES.pick(rng)
        tld = {"US": "com", "DE": "de", "JP": "jp", "SG": "sg"}[country]
        domain = f"{_slug(base)}-{_slug(industry)}.example.{tld}"
        local = f"{_slug(first)}.{_slug(last)}" if rng.random() < 0.7 else "ap"
        code, digits = _EN_PHONE[country]
        number = str(_ri(rng, 2, 9)) + "".join(str(int(rng.random() * 10)) for _ in range(digits - 1))
        return [name, f"{local}@{domain}", code + number, f"{first} {last}", title], logistics

    # ---------------------------------------------------------------- one customer

    def customer(self, index: int, writers: dict[str, Any]) -> None:
        rng = customer_rng(self.seed, index)
        prof = draw_profile(rng)
        cid = f"C{index:06d}"
        ident, logistics = self.identity(rng, prof, index)
        name, email, phone, contact_name, title = ident
        credit = max(_round_down(prof.monthly_cents * (prof.terms + 30) // 30 * 3 // 2, 1_000_000), 1_000_000)
        if prof.segment == "small":
            credit = min(credit, 5_000_000)
        writers["customers"].writerow(
            (
                cid,
                name,
                email,
                phone,
                contact_name,
                title,
                prof.locale,
                prof.country,
                prof.settlement,
                prof.terms,
                _money(credit),
                prof.segment,
                prof.currency,
                prof.collector,
            )
        )
        self.counts["customers"] += 1
        en = prof.locale == "en"

        invoices, unbilled = self.make_invoices(rng, prof)
        for inv in invoices:
            year = date.fromordinal(inv.issued).year
            n = self.invoice_seq.get(year, 0) + 1
            self.invoice_seq[year] = n
            inv.id = f"INV-{year}-{n:06d}"
            writers["invoices"].writerow((inv.id, cid, self.iso(inv.issued), self.iso(inv.due), _money(inv.amount), prof.currency))
        self.counts["invoices"] += len(invoices)

        if prof.settlement != "per_invoice":
            self.make_charges(rng, prof, cid, en, logistics, unbilled, writers["charges"])

        events = _Events(cid, en)
        self.plan_disputes(rng, prof, invoices, events)
        payments = self.pay(rng, prof, invoices)
        self.write_payments(index, cid, payments)
        self.tell_stories(rng, prof, invoices, unbilled, events)
        self.write_events(events)

    # ---------------------------------------------------------------- invoices and charges

    def invoice_amount(self, rng: random.Random, prof: CustomerProfile, share: float) -> int:
        cents = int(prof.monthly_cents * share * (0.6 + 0.8 * rng.random()))
        floor = 28_000 if prof.currency == "USD" else 200_000
        return max(cents, floor + int(rng.random() * floor))

    def make_invoices(self, rng: random.Random, prof: CustomerProfile) -> tuple[list[_Invoice], list[int]]:
        """Invoices in issue order, and the months whose deliveries are not invoiced yet."""
        as_of = self.as_of
        invoices: list[_Invoice] = []
        unbilled: list[int] = []
        for mi in range(self.as_of_mi - self.months, self.as_of_mi):
            start, end = self.month_starts[mi], self.month_starts[mi + 1] - 1
            if prof.settlement == "per_invoice":
                k = _ri(rng, 1, 4)
                days = sorted(_nearest_workday(start + int(rng.random() * (end - start + 1))) for _ in range(k))
                for o in days:
                    if o <= as_of:
                        invoices.append(_Invoice(o, o + prof.terms, self.invoice_amount(rng, prof, 1.6 / k)))
                continue
            if rng.random() < 0.04:  # nothing delivered that month
                continue
            if prof.late_confirmer:
                issued = end + _ri(rng, 8, 20)
            else:
                issued = end + _ri(rng, -5, 5)
            issued = _nearest_workday(issued)
            amount = self.invoice_amount(rng, prof, 1.0)
            if issued > as_of:
                unbilled.append(mi)
                continue
            invoices.append(_Invoice(issued, issued + prof.terms, amount))
        if prof.settlement == "per_invoice":  # the current month so far
            start = self.month_starts[self.as_of_mi]
            k = _ri(rng, 0, 3)
            days = sorted(_nearest_workday(start + int(rng.random() * 30)) for _ in range(k))
            for o in days:
                if o <= as_of:
                    invoices.append(_Invoice(o, o + prof.terms, self.invoice_amount(rng, prof, 0.5)))
        invoices.sort(key=lambda v: v.issued)
        return invoices, unbilled

    def make_charges(self, rng: random.Random, prof: CustomerProfile, cid: str, en: bool, logistics: bool, unbilled: list[int], writer: Any) -> None:
        as_of = self.as_of
        rows = []
        for mi in [*unbilled, self.as_of_mi]:
            start = self.month_starts[mi]
            end = min(self.month_starts[mi + 1] - 1, as_of)
            span = end - start + 1
            k = max(1, round(span / 30 * _ri(rng, 3, 10 if prof.segment == "key" else 7)))
            days = sorted(min(_nearest_workday(start + int(rng.random() * span)), end) for _ in range(k))
            for n, o in enumerate(days, 1):
                amount = max(self.invoice_amount(rng, prof, 1.0 / k) // 2 + int(rng.random() * 50_000), 10_000)
                if logistics:
                    desc = _LOGISTICS_SERVICES[int(rng.random() * len(_LOGISTICS_SERVICES))][en]
                elif rng.random() < 0.8:
                    dn = f"DN{date.fromordinal(o):%Y%m%d}-{n:02d}"
                    desc = f"Goods shipment {dn}" if en else f"货物批次 {dn}"
                else:
                    desc = _CHARGE_SERVICES[int(rng.random() * len(_CHARGE_SERVICES))][en]
                receipt = ""
                if prof.settlement == "per_receipt" and rng.random() < 0.7:
                    r = o + _ri(rng, 1, 10)
                    if r <= as_of:
                        receipt = self.iso(r)
                rows.append((o, amount, desc, receipt))
        for o, amount, desc, receipt in rows:
            self.charge_seq += 1
            writer.writerow((f"CH-{self.charge_seq:06d}", cid, self.iso(o), _money(amount), desc, receipt))
        self.counts["charges"] += len(rows)

    # ---------------------------------------------------------------- disputes and payments

    def plan_disputes(self, rng: random.Random, prof: CustomerProfile, invoices: list[_Invoice], ev: _Events) -> None:
        if prof.unnamed_payments:
            return
        chance = {"a": 0.01, "b": 0.03, "c": 0.10, "d": 0.15}[prof.payer]
        resolve = {"a": 0.95, "b": 0.9, "c": 0.6, "d": 0.15}[prof.payer]
        for inv in invoices:
            if rng.random() >= chance:
                continue
            o = self.day_in(rng, max(inv.issued + 2, inv.due - 10), inv.due + 15)
            if o is None or o > self.as_of:
                continue
            inv.dispute_on = o
            if rng.random() < resolve:
                inv.dispute_end = _next_workday(o + _ri(rng, 5, 25 if prof.payer in ("a", "b") else 60))
            denial = prof.payer == "d" and rng.random() < 0.6
            zh, en = (_DENIAL_REASONS if denial else _DISPUTE_REASONS)[int(rng.random() * len(_DENIAL_REASONS if denial else _DISPUTE_REASONS))]
            reason = en if ev.en else zh
            ev.other(o, {"kind": "dispute_open", "invoice_id": inv.id, "on": o, "reason": reason})
            excuse = "lai" if denial else ("mo" if prof.payer == "c" and rng.random() < 0.5 else None)
            note = f"Customer disputes the invoice: {reason}" if ev.en else f"客户对发票提出异议：{reason}"
            ev.contact(o, "phone" if rng.random() < 0.6 else "email", "disputed", note, excuse, strong=True)
            if inv.dispute_end is not None and inv.dispute_end <= self.as_of:
                ev.other(inv.dispute_end, {"kind": "dispute_resolve", "invoice_id": inv.id, "on": inv.dispute_end})
                if rng.random() < 0.5:
                    ev.contact(inv.dispute_end, "phone", "reached", _RESOLVED_NOTE[ev.en], None)

    def pay(self, rng: random.Random, prof: CustomerProfile, invoices: list[_Invoice]) -> list[tuple[int, str, int]]:
        """Plan payments by payer type, then replay them with the importer's allocation rule."""
        as_of = self.as_of
        payer = prof.payer
        plans: list[tuple[int, int, _Invoice | None, int]] = []
        step = 100_000 if prof.currency == "CNY" else 10_000  # partial payments in round thousands / hundreds

        def plan(o: int, inv: _Invoice, amount: int) -> None:
            o = _next_workday(o)
            if o > as_of or o < inv.issued or amount <= 0:
                return
            if inv.dispute_on is not None and o >= inv.dispute_on:
                if inv.dispute_end is None or o <= inv.dispute_end:
                    return
            named = not (prof.unnamed_payments and rng.random() < 0.6)
            plans.append((o, len(plans), inv if named else None, amount))

        for inv in invoices:
            if payer == "d":
                break
            if inv.dispute_on is not None and inv.dispute_end is None:
                continue  # never resolved: not paid
            after = inv.dispute_end + _ri(rng, 2, 10) if inv.dispute_end is not None else None
            if payer == "a":
                if after is not None:
                    plan(after, inv, inv.amount)
                elif rng.random() < 0.85:
                    plan(inv.due - _ri(rng, 0, min(12, inv.due - inv.issued - 1)), inv, inv.amount)
                else:
                    plan(inv.due + _ri(rng, 1, 6), inv, inv.amount)
            elif payer == "b":
                o = after if after is not None else inv.due + _ri(rng, 3, 21)
                if rng.random() < 0.15:
                    first = _round_down(inv.amount // 2, step) or inv.amount // 2
                    plan(o, inv, first)
                    plan(o + _ri(rng, 5, 15), inv, inv.amount - first)
                else:
                    plan(o, inv, inv.amount)
            else:  # c
                o = after + _ri(rng, 5, 30) if after is not None else inv.due + _ri(rng, 30, 120)
                if rng.random() < 0.6:
                    first = _round_down(inv.amount * _ri(rng, 30, 70) // 100, step)
                    if 0 < first < inv.amount:
                        plan(o, inv, first)
                        if rng.random() < 0.55:
                            plan(o + _ri(rng, 20, 90), inv, inv.amount - first)
                        continue
                plan(o, inv, inv.amount)

        plans.sort(key=lambda p: (p[0], p[1]))
        order = sorted(invoices, key=lambda v: (v.due, v.issued, v.id))
        out: list[tuple[int, str, int]] = []
        for o, _, inv, amount in plans:
            if inv is not None:
                amount = min(amount, inv.open)
                if amount <= 0:
                    continue
                inv.open -= amount
                inv.pays.append((o, amount))
                out.append((o, inv.id, amount))
                continue
            owed = sum(v.open for v in order if v.issued <= o)
            amount = min(amount, owed)
            if amount <= 0:
                continue
            rest = amount
            for v in order:
                if v.open and v.issued <= o:
                    take = min(rest, v.open)
                    v.open -= take
                    v.pays.append((o, take))
                    rest -= take
                    if not rest:
                        break
            out.append((o, "", amount))
        return out

    def write_payments(self, index: int, cid: str, payments: list[tuple[int, str, int]]) -> None:
        for seq, (o, inv_id, amount) in enumerate(payments):
            f = self.bucket(self.pay_buckets, "p", o)
            f.write(f"{self.iso(o)}\t{index:09d}\t{seq:05d}\t{cid},{self.iso(o)},{_money(amount)},{inv_id}\n")
        self.counts["payments"] += len(payments)

    # ---------------------------------------------------------------- events

    def promise(self, ev: _Events, o: int, amount: int, by: int, invoices: list[_Invoice], currency: str) -> None:
        for inv in invoices:
            inv.promise_until = max(inv.promise_until, by)
        if ev.en:
            note = f"Customer promised to pay {_money(amount)} {currency} by {self.iso(by)}"
        else:
            note = f"客户承诺于{self.iso(by)}前支付{_money(amount)}{'元' if currency == 'CNY' else ' ' + currency}"
        ev.contact(o, "phone", "promised", note, None, strong=True)
        ev.other(o, {"kind": "promise", "customer_id": ev.cid, "on": o, "amount": _money(amount), "by": by, "invoices": [inv.id for inv in invoices]})

    def follow_up(self, rng: random.Random, ev: _Events, payer: str, o: int) -> None:
        channel, result, excuse = _CONTACTS[payer].pick(rng)
        special = _CHANNEL_NOTES.get((channel, result, excuse))
        zh, en = special or _NOTES[(result, excuse)]
        variants = en if ev.en else zh
        note = variants[int(rng.random() * len(variants))]
        if channel == "visit" and special is None:
            note = _VISIT_PREFIX[ev.en] + note
        ev.contact(o, channel, result, note, excuse)

    def tell_stories(self, rng: random.Random, prof: CustomerProfile, invoices: list[_Invoice], unbilled: list[int], ev: _Events) -> None:
        as_of = self.as_of
        payer = prof.payer
        may_promise = not prof.unnamed_payments
        step = 100_000 if prof.currency == "CNY" else 10_000
        windows: list[tuple[int, int]] = []  # overdue spells: (day after due, last unpaid day)
        for inv in invoices:
            due = inv.due
            if due >= as_of:
                continue
            full = inv.full_on()
            if full is not None and full <= due:
                continue
            lo = due + 1
            hi = (full - 1) if full is not None else as_of
            if hi < lo:
                continue
            windows.append((lo, hi))
            if payer == "a" and rng.random() < 0.3 or payer == "b" and rng.random() < 0.45:
                o = self.day_in(rng, lo, hi)
                if o is not None:
                    self.follow_up(rng, ev, payer, o)
            if not may_promise or payer == "a":
                continue
            # The first payment after the due date, if any.
            nxt = next(((d, a) for d, a in inv.pays if d >= lo), None)
            limit = nxt[0] if nxt is not None else as_of
            lo2 = lo
            # A broken promise (爽约): nothing paid on the invoice between the promise and its date.
            if rng.random() < {"b": 0.03, "c": 0.15, "d": 0.2}[payer]:
                o = self.day_in(rng, lo, limit - 10)
                if o is not None and not inv.disputed_on(o):
                    by = o + _ri(rng, 5, 9)
                    if inv.dispute_on is not None and o < inv.dispute_on <= by:
                        by = inv.dispute_on - 1
                    open_now = inv.open_at(o)
                    amount = open_now
                    if payer == "c" and rng.random() < 0.5:
                        amount = _round_down(open_now * _ri(rng, 30, 80) // 100, step) or open_now
                    if by > o and amount > 0:
                        self.promise(ev, o, amount, by, [inv], prof.currency)
                        after = self.day_in(rng, by + 1, min(by + 3, limit - 1, as_of))
                        if after is not None:
                            zh, en = _BROKEN_NOTES[int(rng.random() * len(_BROKEN_NOTES))]
                            excuse = "duo" if payer == "d" else "tuo"
                            ev.contact(after, "phone", "reached" if payer != "d" else "unreachable", en if ev.en else zh, excuse)
                            lo2 = after + 1
                        else:
                            lo2 = by + 1
            # A kept promise: the customer pays what was promised, on the invoice, by the date.
            if nxt is not None and rng.random() < {"b": 0.15, "c": 0.3, "d": 0.0}[payer]:
                o = self.day_in(rng, max(lo2, nxt[0] - 10), nxt[0] - 1)
                if o is not None and not inv.disputed_on(o):
                    self.promise(ev, o, nxt[1], nxt[0] + _ri(rng, 0, 4), [inv], prof.currency)

        # Payers under pressure and non-payers: the collector keeps calling while anything is overdue.
        if payer in ("c", "d") and windows:
            gap = (10, 25) if payer == "c" else (15, 35)
            t = min(lo for lo, _ in windows) + _ri(rng, 0, 3)
            while t <= as_of:
                spell = next((w for w in windows if w[0] <= t <= w[1]), None)
                if spell is not None:
                    o = self.day_in(rng, t, min(t + 2, spell[1]))
                    if o is not None:
                        self.follow_up(rng, ev, payer, o)
                t += _ri(rng, *gap)

        # A promise still running at as_of, for the overdue open invoices.
        if may_promise and payer != "a" and rng.random() < {"b": 0.3, "c": 0.25, "d": 0.08}[payer]:
            o = self.day_in(rng, as_of - 7, as_of)
            if o is not None:
                named = [v for v in invoices if v.due < o and v.open > 0 and not v.disputed_on(o) and v.promise_until < o and v.open_at(o) > 0]
                if named:
                    total = sum(v.open_at(o) for v in named)
                    share = {"b": (100, 100), "c": (40, 100), "d": (10, 30)}[payer]
                    amount = _round_down(total * _ri(rng, *share) // 100, step) or total
                    self.promise(ev, o, amount, as_of + _ri(rng, 3, 20), named, prof.currency)

        # Chronically late confirmers: statement follow-ups and the odd visit.
        if prof.late_confirmer:
            for inv in invoices:
                start = self.month_starts[self.month_index(inv.issued)]
                if inv.issued - start < 8:
                    continue
                o = self.day_in(rng, start + 8, inv.issued - 1)
                if o is not None:
                    self.statement_contact(rng, ev, o)
            for mi in unbilled:
                start = self.month_starts[mi + 1]
                o = self.day_in(rng, start + 8, as_of)
                if o is not None:
                    self.statement_contact(rng, ev, o)

    def month_index(self, o: int) -> int:
        d = date.fromordinal(o)
        return d.year * 12 + d.month - 1

    def statement_contact(self, rng: random.Random, ev: _Events, o: int) -> None:
        r = rng.random()
        if r < 0.25:
            ev.contact(o, "visit", "reached", _STATEMENT_NOTES["visit"][ev.en], "mo")
        elif r < 0.65:
            ev.contact(o, "email", "reached", _STATEMENT_NOTES["mo"][ev.en], "mo")
        else:
            ev.contact(o, "phone", "reached", _STATEMENT_NOTES["tuo"][ev.en], "tuo")

    def write_events(self, ev: _Events) -> None:
        items = [(o, c) for o, (_, c) in ev.contacts.items()] + ev.others
        for o, event in items:
            if o > self.as_of:
                continue
            event["on"] = self.iso(o)
            if "by" in event:
                event["by"] = self.iso(event["by"])
            line = json.dumps(event, ensure_ascii=False)
            self.bucket(self.event_buckets, "e", o).write(f"{event['on']}\t{line}\n")
            self.counts["events"] += 1

    # ---------------------------------------------------------------- merge

    def merge(self, payments_path: Path, events_path: Path) -> None:
        for f in (*self.pay_buckets.values(), *self.event_buckets.values()):
            f.close()
        width = max(6, len(str(self.counts["payments"])))
        n = 0
        with open(payments_path, "w", encoding="utf-8", newline="\n") as out:
            out.write(",".join(PAYMENT_COLUMNS) + "\n")
            for key in sorted(self.pay_buckets):
                path = self.tmp / f"p-{key}.txt"
                lines = path.read_text(encoding="utf-8").splitlines()
                lines.sort()
                chunk = []
                for line in lines:
                    n += 1
                    chunk.append(f"PAY-{n:0{width}d},{line.split(chr(9), 3)[3]}\n")
                out.write("".join(chunk))
                path.unlink()
        with open(events_path, "w", encoding="utf-8", newline="\n") as out:
            for key in sorted(self.event_buckets):
                path = self.tmp / f"e-{key}.txt"
                lines = path.read_text(encoding="utf-8").splitlines()
                lines.sort()
                out.write("".join(line.split("\t", 1)[1] + "\n" for line in lines))
                path.unlink()


# --------------------------------------------------------------------------- entry point


def generate_demo(out_dir: Path, *, customers: int, as_of: date, seed: int = 2026, months: int = 6, progress: Callable[[int], None] | None = None) -> DemoFiles:
    """Write a demo portfolio of ``customers`` customers as import files into ``out_dir``.

    ``months`` billing months before the month of ``as_of`` are invoiced. The same
    (customers, as_of, seed, months) always writes byte-identical files.
    ``progress(n)`` is called with the number of customers done since its last call.
    """
    if customers < 0:
        raise ValueError("customers must be >= 0")
    if months < 1:
        raise ValueError("months must be >= 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / f"{kind}.csv" for kind in ("customers", "invoices", "payments", "charges")}
    paths["events"] = out_dir / "events.jsonl"
    headers = {"customers": CUSTOMER_COLUMNS, "invoices": INVOICE_COLUMNS, "charges": CHARGE_COLUMNS}

    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".demo-tmp-") as tmp:
        gen = _Generator(seed, as_of, months, Path(tmp))
        files = {kind: open(paths[kind], "w", encoding="utf-8", newline="") for kind in headers}
        try:
            writers = {kind: csv.writer(f, lineterminator="\n") for kind, f in files.items()}
            for kind, header in headers.items():
                writers[kind].writerow(header)
            pending = 0
            for index in range(1, customers + 1):
                gen.customer(index, writers)
                pending += 1
                if progress is not None and pending >= _PROGRESS_STEP:
                    progress(pending)
                    pending = 0
        finally:
            for f in files.values():
                f.close()
            for f in (*gen.pay_buckets.values(), *gen.event_buckets.values()):
                f.close()
        gen.merge(paths["payments"], paths["events"])
        if progress is not None and pending:
            progress(pending)

    return DemoFiles(
        customers=paths["customers"],
        invoices=paths["invoices"],
        payments=paths["payments"],
        charges=paths["charges"],
        events=paths["events"],
        counts=dict(gen.counts),
    )


def to_decimal(text: str) -> Decimal:
    """An amount as written in the demo files, as a Decimal with two places."""
    return Decimal(text).quantize(Decimal("0.01"))
