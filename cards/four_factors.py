"""企业核验 cards: the form, the request managers act on, and its states (核验中 → 一致 / 不一致 / 失败 / 驳回 / 已过期).

Every card here may be seen by a whole chat: it only ever receives masked personal data (`RequestView`), but for
the requester's own name on the copy in their private chat with the bot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.trust.consent import Notice
from cards.common import (
    EXPIRED,
    FAILED,
    INFO,
    OK,
    WAITING,
    Card,
    Element,
    action_value,
    button,
    button_row,
    card,
    error_card,
    fields,
    footer,
    form,
    markdown,
    note,
    submit_button,
    text_input,
)
from cards.common import (
    consent_card as notice_card,
)
from cards.safe import Markup, md

SOURCE = "聚合数据"
SUBMIT = "four_factors.submit"
VERIFY = "four_factors.verify"
REJECT = "four_factors.reject"
NEW = "four_factors.new"
WITHDRAW = "four_factors.withdraw"
AGREE = "four_factors.agree"
REFUSE = "four_factors.refuse"
USAGE = "企业核验 <企业全称> <企业标识> <法人/负责人姓名> <证件号码>"
EXAMPLE = "企业核验 小米科技有限责任公司 91110108551385082Q 雷军 11010119691202123X"
FORM_FIELDS = (
    ("entname", "企业全称", "如：小米科技有限责任公司"),
    ("entmark", "企业标识", "统一社会信用代码（18 位）或注册号（15 位）"),
    ("realname", "法人/负责人姓名", "与工商登记一致"),
    ("idcard", "证件号码", "18 位身份证号码"),
)
MODES = {"plain": "标准版", "encrypted": "加密版", "v2": "核验 2.0"}


@dataclass(frozen=True)
class RequestView:
    """A verification request as cards may show it: personal data already masked."""

    request_id: str
    attempt: int
    entname: str
    entmark: str
    masked_name: str
    masked_idcard: str
    requester: str  # name of whoever asked: masked, but in full on the copy in their own private chat
    requested_at: datetime  # in the bot's time zone
    # The requester's private chat with the bot, when this copy is there (`requester` is then their full name).
    private_chat: str = ""


@dataclass(frozen=True)
class Outcome:
    consistent: bool
    mode: str
    orderid: str
    detail_code: int | None
    detail_desc: str | None
    res: int | None
    regstatus: str | None
    verifier: str  # masked name
    verified_at: datetime  # in the bot's time zone


def _title(prefix: str, view: RequestView) -> str:
    return f"{prefix} · {view.entname}"


def _subject(view: RequestView) -> Element:
    return fields(
        [
            ("企业全称", view.entname),
            ("企业标识", view.entmark),
            ("法人/负责人", view.masked_name),
            ("证件号码", view.masked_idcard),
        ]
    )


def _requested(view: RequestView) -> str:
    return f"申请人：{md(view.requester)} · 申请时间：{view.requested_at:%Y-%m-%d %H:%M}"


def _private(chat: str) -> dict[str, str]:
    """What a button carries when its card is in the clicker's private chat with the bot."""
    return {"private_chat": chat} if chat else {}


def form_card(private_chat: str = "") -> Card:
    """`private_chat`: the form is sent into the clicker's private chat with the bot (the request names them)."""
    inputs = [text_input(name, label, placeholder=hint, required=True) for name, label, hint in FORM_FIELDS]
    return card(
        "企业四要素核验",
        INFO,
        [
            markdown("填写企业和法人/负责人信息，提交后由管理员核验。"),
            form(
                "four_factors",
                [*inputs, submit_button("提交核验申请", action_value(SUBMIT, **_private(private_chat)))],
            ),
            note("证件号码只保存在服务器上，卡片上只显示打码后的号码；核验完成后原始号码即被删除。"),
        ],
    )


def usage_card(reason: str | None = None) -> Card:
    lines = [f"用法：`{USAGE}`", f"例：`{EXAMPLE}`", "或只发送「企业核验」，在表单中填写（群聊中推荐）。"]
    if reason:
        return error_card("无法发起核验", reason, Markup("\n".join(lines)))
    return card("企业四要素核验", INFO, [markdown("\n".join(lines))])


def invalid_card(problems: list[str]) -> Card:
    return error_card(
        "无法发起核验",
        Markup("\n".join(f"- {md(problem)}" for problem in problems)),
        "请核对后重新发送；信息有误时不会发起查询，也不收费。",
    )


def request_card(view: RequestView) -> Card:
    """Waiting for a manager: 核验 (one billed call) or 驳回."""
    return card(
        _title("企业核验申请", view),
        WAITING,
        [
            _subject(view),
            note(_requested(view)),
            button_row(
                button(
                    "核验",
                    action_value(VERIFY, request=view.request_id, attempt=view.attempt),
                    kind="primary",
                ),
                button(
                    "驳回", action_value(REJECT, request=view.request_id, attempt=view.attempt), kind="danger"
                ),
                _withdraw_button(view),
            ),
            note("仅管理员可核验或驳回，核验会向数据源发起一次收费查询；申请人可撤回。"),
        ],
    )


def verifying_card(view: RequestView, verifier: str) -> Card:
    return card(
        _title("企业核验中", view),
        WAITING,
        [
            _subject(view),
            markdown(f"**核验中**：{md(verifier)} 已发起核验，请稍候。"),
            note(_requested(view)),
        ],
    )


def _reason(outcome: Outcome) -> str:
    """The verdict's reason in words (the detail codes' meanings, FOUR_FACTORS_DETAILS), never a bare code."""
    if outcome.consistent:
        if outcome.detail_desc and outcome.detail_code == 7:
            return "此人是该企业登记的法人/负责人，四项信息相符。"
        return "企业名称、企业标识、法人/负责人姓名和证件号码相符。"
    return f"{outcome.detail_desc}。" if outcome.detail_desc else "四项信息不相符，数据源未说明是哪一项。"


def result_card(view: RequestView, outcome: Outcome) -> Card:
    verdict = "一致" if outcome.consistent else "不一致"
    lines: list[tuple[str, str]] = []
    if outcome.regstatus:
        lines.append(("经营状态", outcome.regstatus))
    lines += [
        ("流水号", outcome.orderid or "—"),
        ("核验人", outcome.verifier),
        ("核验时间", f"{outcome.verified_at:%Y-%m-%d %H:%M}"),
    ]
    return card(
        _title(f"企业核验{verdict}", view),
        OK if outcome.consistent else FAILED,
        [
            markdown(f"**{verdict}**：{md(_reason(outcome))}"),
            _subject(view),
            fields(lines),
            note(f"{_requested(view)} · 接口：{md(MODES.get(outcome.mode, outcome.mode))}"),
            footer(SOURCE, outcome.verified_at, ref=outcome.orderid or None),
            # The next step: a fresh form in this chat (nothing billed until a manager presses 核验 again).
            button_row(button("发起新的核验", action_value(NEW, **_private(view.private_chat)))),
        ],
    )


def failed_card(view: RequestView, reason: str, verifier: str, failed_at: datetime) -> Card:
    """The call did not produce a verdict: why, and 重新核验 (a new billed call) or 驳回."""
    return card(
        _title("企业核验失败", view),
        FAILED,
        [
            markdown(f"**核验未完成**：{md(reason)}"),
            _subject(view),
            note(f"核验人：{md(verifier)} · {failed_at:%Y-%m-%d %H:%M} · {_requested(view)}"),
            button_row(
                button(
                    "重新核验",
                    action_value(VERIFY, request=view.request_id, attempt=view.attempt),
                    kind="primary",
                ),
                button(
                    "驳回", action_value(REJECT, request=view.request_id, attempt=view.attempt), kind="danger"
                ),
                _withdraw_button(view),
            ),
        ],
    )


def _withdraw_button(view: RequestView) -> Element:
    return button("撤回申请", action_value(WITHDRAW, request=view.request_id, attempt=view.attempt))


def consent_card(
    notice: Notice, requester: str = "", source: str = "", sealed: str = "", *, private_chat: str = ""
) -> Card:
    """Before a request: the named person's data goes to Juhe once a manager verifies. Only `requester` may agree.
    `sealed`: what came with the command (message `source`), sealed by the handler so the card holds nothing
    readable; 同意 carries it back and the request goes on as typed."""
    payload = {"requester": requester} if requester else {}
    payload |= _private(private_chat)
    if sealed:
        payload |= {"source": source, "sealed": sealed}
    return notice_card(notice, action_value(AGREE, **payload), action_value(REFUSE))


def withdrawn_card(view: RequestView) -> Card:
    return card(
        _title("企业核验申请已撤回", view),
        EXPIRED,
        [
            markdown("**已撤回**：申请人撤回了这条申请，未发起查询，证件信息已删除。"),
            _subject(view),
            note(_requested(view)),
        ],
    )


def rejected_card(view: RequestView, manager: str, rejected_at: datetime) -> Card:
    return card(
        _title("企业核验已驳回", view),
        FAILED,
        [
            markdown(
                f"**已驳回**：{md(manager)} 于 {rejected_at:%Y-%m-%d %H:%M} 驳回了这条核验申请，未发起查询。"
            ),
            _subject(view),
            note(_requested(view)),
        ],
    )


def expired_card(view: RequestView) -> Card:
    return card(
        _title("企业核验申请已过期", view),
        EXPIRED,
        [
            markdown("**已过期**：这条申请长时间无人处理，已关闭，证件信息已删除。如仍需核验请重新发起。"),
            _subject(view),
            note(_requested(view)),
        ],
    )
