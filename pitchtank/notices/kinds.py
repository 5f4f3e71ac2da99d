"""Every kind of email PitchTank sends, in one place.

Each kind has three templates in ``templates/email/``: ``<kind>.subject.txt``, ``<kind>.txt``
and ``<kind>.html``, rendered in the recipient's language. The dedupe key names the fact the
email reports (shown here as a pattern), so the same fact is never mailed twice.
"""

from __future__ import annotations

KINDS: dict[str, str] = {
    # Accounts
    "email_verification": "verify-email:{user_id}:{nonce} — sign-up or resend: the link that confirms the address",
    "password_reset": "password-reset:{user_id}:{nonce} — the single-use link that sets a new password",  # nosec B105 # a description
    # Events
    "application_accepted": "application-decided:{submission_id}:{decided_at} — to the entrepreneur",
    "application_rejected": "application-decided:{submission_id}:{decided_at} — to the entrepreneur",
    "results_published": "results-published:{session_id}:to:{user_id} — entrepreneurs with a pitch, and judges",
    # Fund
    "capital_call_issued": "call-issued:{call_line_id}:to:{user_id} — the company's investors",
    "capital_call_overdue": "call-overdue:{call_line_id}:to:{user_id} — once per line past due with a balance",
    "payment_received": "payment-received:{payment_id}:to:{user_id} — with the PDF receipt attached",
    "payment_failed": "payment-failed:{payment_id}:{attempt}:to:{user_id} — a card or bank payment that failed",
    "offer_made": "offer-made:{offer_id} — to the venture's owner",
    "offer_accepted": "offer-decided:{offer_id} — to the investor who made it",
    "offer_declined": "offer-decided:{offer_id} — to the investor who made it",
}
