"""Two-factor authentication: time-based codes (TOTP, RFC 6238) and single-use recovery codes.

Required for organizers, who move money and publish results; optional for everyone else.
A login session counts as two-factor-verified once its owner typed a code in it (at login, or
when enrolling); the flag lives in the signed session cookie and names the user it is for.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import pyotp
import segno
from flask import session
from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update

from pitchtank.accounts.models import RecoveryCode, Role, User
from pitchtank.audit.services import record
from pitchtank.core.errors import ValidationFailed
from pitchtank.core.types import utcnow
from pitchtank.extensions import db

ISSUER = "PitchTank"
RECOVERY_CODE_COUNT = 10
# 12 characters of a 32-letter alphabet (60 bits): typed rarely, never guessable, and hashed.
RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
RECOVERY_CODE_LENGTH = 12
CODE_MAX = 64
# Codes of the neighbouring 30-second steps count too: phone clocks drift.
VALID_WINDOW = 1

VERIFIED_KEY = "tfa_user_id"  # the session key that says "this user typed a code here"
PENDING_KEY = "tfa_pending"  # a login that passed the password and waits for the code
ENROLL_KEY = "tfa_enroll_secret"  # the secret being enrolled, until a code confirms it
PENDING_SECONDS = 300


# ---------- Who needs it, and the login session ----------

def required_for(user: User) -> bool:
    """Organizers must use two-factor authentication; anyone who turned it on uses it too."""
    return user.two_factor_enabled or user.has_role(Role.ORGANIZER)


def session_verified(user: User) -> bool:
    return session.get(VERIFIED_KEY) == user.id


def mark_session_verified(user: User) -> None:
    session[VERIFIED_KEY] = user.id
    session.pop(PENDING_KEY, None)


def forget_session() -> None:
    """Drop every two-factor mark of the session (on logout)."""
    for key in (VERIFIED_KEY, PENDING_KEY, ENROLL_KEY):
        session.pop(key, None)


def start_pending_login(user: User, next_url: str) -> None:
    """The password was right; the session is established only once the code is."""
    session.pop(VERIFIED_KEY, None)
    session[PENDING_KEY] = {"user_id": user.id, "version": user.session_version,
                            "started": int(time.time()), "next": next_url}


def pending_login() -> tuple[User, str] | None:
    """The user waiting for the second step and where to go next, if still in time."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    if int(time.time()) - int(pending.get("started", 0)) > PENDING_SECONDS:
        session.pop(PENDING_KEY, None)
        return None
    user = db.session.get(User, int(pending.get("user_id", 0)))
    if user is None or not user.is_active or user.session_version != pending.get("version") \
            or not user.two_factor_enabled:
        session.pop(PENDING_KEY, None)
        return None
    return user, str(pending.get("next") or "")


# ---------- Codes ----------

def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg_data_uri(uri: str) -> str:
    """The enrolment QR code, drawn as SVG like the invitations' codes."""
    return segno.make(uri, error="m").svg_data_uri(scale=6, border=2, dark="#111", light="#fff")


def _digits(code: str) -> str:
    return re.sub(r"\s+", "", code or "")


def _matching_step(secret: str, code: str) -> int | None:
    """The time step whose code ``code`` is, within the allowed clock drift, or None."""
    code = _digits(code)
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    now_step = totp.timecode(utcnow())
    for step in range(now_step - VALID_WINDOW, now_step + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _spend_step(user: User, step: int) -> bool:
    """Record ``step`` as used, unless it (or a later one) already was: one UPDATE, so two
    requests replaying the same code cannot both win."""
    result = db.session.execute(
        update(User)
        .where(User.id == user.id, (User.totp_last_step.is_(None)) | (User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    user.totp_last_step = step
    return True


def normalize_recovery_code(code: str) -> str:
    return re.sub(r"[\s-]+", "", code or "").upper()


def _hash_recovery_code(code: str) -> str:
    return hashlib.sha256(normalize_recovery_code(code).encode()).hexdigest()


def _format_recovery_code(raw: str) -> str:
    return "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def _spend_recovery_code(user: User, code: str) -> bool:
    normalized = normalize_recovery_code(code)
    if len(normalized) != RECOVERY_CODE_LENGTH or any(c not in RECOVERY_ALPHABET for c in normalized):
        return False
    result = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash_recovery_code(normalized),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(
        select(func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ) or 0


def new_recovery_codes(user: User) -> list[str]:
    """Replace ``user``'s recovery codes with ten fresh ones, shown once; only hashes are kept."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = ["".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
             for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash_recovery_code(c)) for c in codes)
    db.session.flush()
    return [_format_recovery_code(c) for c in codes]


@dataclass(frozen=True)
class CodeCheck:
    ok: bool
    method: str = ""  # "totp" or "recovery_code"
    replayed: bool = False


def check_code(user: User, code: str, *, allow_recovery: bool = True, actor: User | None = None) -> CodeCheck:
    """Accept ``code`` once: a current authenticator code not used before, or an unused recovery code.

    The caller commits (a spent code stays spent even if the caller refuses for another reason).
    """
    code = (code or "")[:CODE_MAX]
    if not user.two_factor_enabled:
        return CodeCheck(False)
    step = _matching_step(user.totp_secret, code)
    if step is not None:
        if _spend_step(user, step):
            return CodeCheck(True, "totp")
        return CodeCheck(False, replayed=True)
    if allow_recovery and _spend_recovery_code(user, code):
        record("two_factor.recovery_code_used", actor=actor or user, subject_type="user", subject_id=user.id,
               codes_left=recovery_codes_left(user))
        return CodeCheck(True, "recovery_code")
    return CodeCheck(False)


def code_error(check: CodeCheck) -> str:
    if check.replayed:
        return _("This code was already used. Wait for the next code in your app and type that one.")
    return _("The code is not right. Type the 6-digit code your app shows now, or one of your recovery codes.")


# ---------- Turning it on and off ----------

def enable(user: User, secret: str, code: str) -> list[str]:
    """Turn two-factor on once ``code`` proves the app holds ``secret``; returns the recovery codes."""
    if user.two_factor_enabled:
        raise ValidationFailed({"code": [_("Two-factor authentication is already on for your account.")]})
    step = _matching_step(secret, code)
    if step is None:
        raise ValidationFailed({"code": [_("The code is not right. Check that your phone's time is set "
                                           "automatically and type the code your app shows now.")]})
    user.totp_secret = secret
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    codes = new_recovery_codes(user)
    record("two_factor.enabled", actor=user, subject_type="user", subject_id=user.id)
    return codes


def disable(user: User, code: str) -> None:
    """Turn two-factor off, with a current code or a recovery code; other sessions and API tokens end."""
    from pitchtank.accounts.services import revoke_all_tokens

    check = check_code(user, code)
    if not check.ok:
        raise ValidationFailed({"code": [code_error(check)]})
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    revoke_all_tokens(user)
    user.session_version += 1  # other browsers' sessions end; they were verified with the old factor
    record("two_factor.disabled", actor=user, subject_type="user", subject_id=user.id, method=check.method)
    db.session.flush()


def regenerate_recovery_codes(user: User, code: str) -> list[str]:
    """Ten new recovery codes, after a current code or a recovery code; the old ones stop working."""
    check = check_code(user, code)
    if not check.ok:
        raise ValidationFailed({"code": [code_error(check)]})
    record("two_factor.recovery_codes_regenerated", actor=user, subject_type="user", subject_id=user.id)
    return new_recovery_codes(user)
