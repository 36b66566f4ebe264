"""Messages to parties, in Chinese or English by the party's language; delivered by email and/or SMS.

Every message goes through ``runtime.mailer`` / ``runtime.sms`` inside the caller's transaction (so it
exists only if the change commits) and is sent by the job queue. Links carry the raw link token: the
notification is the only place it ever exists outside this process. Never log these texts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from sealpact.contracts.models import Contract, Party

if TYPE_CHECKING:
    from sealpact.runtime import Runtime

_TEXT = {
    "invite": {
        "zh": (
            "请签署：{title}",
            "{sender}邀请您签署《{title}》。\n{message}\n请在{expires}前打开链接签署（链接仅可使用一次）：\n{link}",
        ),
        "en": (
            "Please sign: {title}",
            '{sender} invites you to sign "{title}".\n{message}\n'
            "Open this single-use link before {expires}:\n{link}",
        ),
    },
    "remind": {
        "zh": ("提醒：请签署 {title}", "《{title}》正在等待您签署，请在{expires}前完成：\n{link}"),
        "en": (
            "Reminder: please sign {title}",
            '"{title}" is waiting for your signature until {expires}:\n{link}',
        ),
    },
    "code": {
        "zh": ("验证码", "您的验证码为{code}，{minutes}分钟内有效。用途：{purpose}。请勿告诉他人。"),
        "en": (
            "Your code",
            "Your code is {code}, valid for {minutes} minutes, to {purpose}. Never share it.",
        ),
    },
    "completed": {
        "zh": ("已完成：{title}", "《{title}》已由各方签署完成。请通过此链接下载合同及完成证书：\n{link}"),
        "en": (
            "Completed: {title}",
            '"{title}" has been signed by every party. Download it and its certificate:\n{link}',
        ),
    },
    "closed": {
        "zh": ("已终止：{title}", "《{title}》已{reason}，无需再签署。"),
        "en": ("Closed: {title}", '"{title}" was {reason}; no signature is needed any more.'),
    },
}
_PURPOSE = {
    "auth": {"zh": "身份验证", "en": "sign in"},
    "intent": {"zh": "确认签署意愿", "en": "confirm your intent to sign"},
}
_REASON = {
    "declined": {"zh": "被拒签", "en": "declined"},
    "cancelled": {"zh": "被撤销", "en": "cancelled"},
    "expired": {"zh": "过期", "en": "left to expire"},
}


def _lang(party: Party) -> str:
    return "zh" if party.language == "zh" else "en"


def link_url(runtime: Runtime, token: str) -> str:
    return f"{runtime.settings.public_url}/sign#{token}"


def send_link(
    runtime: Runtime,
    session: Session,
    contract: Contract,
    party: Party,
    token: str,
    sender: str,
    *,
    kind: str,
) -> None:
    """The invitation (or reminder) with the signing link, to every contact the party has."""
    lang = _lang(party)
    subject, body = _TEXT[kind][lang]
    expires = contract.expires_at.strftime("%Y-%m-%d %H:%M UTC") if contract.expires_at else ""
    values = {
        "title": contract.title,
        "sender": sender,
        "message": contract.message or "",
        "expires": expires,
        "link": link_url(runtime, token),
    }
    _deliver(
        runtime,
        session,
        party,
        subject.format(**values),
        body.format(**values),
        purpose=f"contract_{kind}",
        params=[contract.title[:20], link_url(runtime, token)],
    )


def send_code(
    runtime: Runtime,
    session: Session,
    party: Party,
    *,
    channel: str,
    to: str,
    code: str,
    purpose: str,
    minutes: int,
) -> None:
    lang = _lang(party)
    subject, body = _TEXT["code"][lang]
    text = body.format(code=code, minutes=minutes, purpose=_PURPOSE[purpose][lang])
    if channel == "sms":
        runtime.sms.queue_sms(
            session, to, purpose=f"contract_{purpose}_code", params=[code, str(minutes)], text=text
        )
    else:
        runtime.mailer.queue_email(session, to, subject, text, tag=f"contract-{purpose}-code")


def send_closed(runtime: Runtime, session: Session, contract: Contract, party: Party, reason: str) -> None:
    lang = _lang(party)
    subject, body = _TEXT["closed"][lang]
    values = {"title": contract.title, "reason": _REASON[reason][lang]}
    _deliver(
        runtime,
        session,
        party,
        subject.format(**values),
        body.format(**values),
        purpose=f"contract_{reason}",
        params=[contract.title[:20]],
    )


def _deliver(
    runtime: Runtime,
    session: Session,
    party: Party,
    subject: str,
    text: str,
    *,
    purpose: str,
    params: list[str],
) -> None:
    if party.email:
        runtime.mailer.queue_email(session, party.email, subject, text, tag=purpose.replace("_", "-"))
    if party.mobile:
        runtime.sms.queue_sms(session, party.mobile, purpose=purpose, params=params, text=text)
