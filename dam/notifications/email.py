"""Email for notifications through SMTP (DAM_SMTP_*), sent by the worker: a slow or absent
mail server never holds up a request, and a failed send is retried with the outbox's backoff."""

from __future__ import annotations

import smtplib
import uuid
from email.message import EmailMessage
from typing import Any

from sqlmodel import Session

from dam.context import Context
from dam.jobs.registry import GiveUp, RetryLater
from dam.models import Notification, User


def message_for(ctx: Context, notification: Notification, to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = ctx.settings.smtp_from
    message["To"] = to
    message["Subject"] = notification.title
    lines = [notification.title, ""]
    if notification.body:
        lines += [notification.body, ""]
    if notification.asset_id is not None:
        lines.append(f"{ctx.settings.public_url.rstrip('/')}/assets/{notification.asset_id}")
    lines.append(f"Your inbox: {ctx.settings.public_url.rstrip('/')}/inbox")
    message.set_content("\n".join(lines))
    message["X-DAM-Notification"] = str(notification.id)
    return message


def send_notification_email(ctx: Context, session: Session, payload: dict[str, Any]) -> None:
    """Job handler: one message per notification; marks it sent (failed when refused)."""
    notification = session.get(Notification, uuid.UUID(payload["notification_id"]))
    if notification is None or notification.email_status == "sent":
        return
    user = session.get(User, notification.recipient_id)
    settings = ctx.settings
    if user is None or user.disabled or not settings.smtp_host:
        notification.email_status = None
        session.add(notification)
        return
    message = message_for(ctx, notification, user.email)
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password or "")
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        notification.email_status = "failed"
        session.add(notification)
        session.commit()
        raise GiveUp(f"the mail server refused {user.email}: {exc.recipients}") from exc
    except (OSError, smtplib.SMTPException) as exc:
        # Stays `queued`; the job's last_error says why, and the outbox tries again.
        raise RetryLater(f"could not send the email: {exc}") from exc
    notification.email_status = "sent"
    session.add(notification)
