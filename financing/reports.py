"""The ``disclosures`` report for auditors: the signature register of a period.

Registered with the platform's report pipeline when it is installed (``ReportType`` with a
``build(*, tenant, period, appendix)``): every signature of the period with its document and
policy hashes and its place in the chain, plus whether the chain recomputes intact.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from financing.disclosures import signature_chain_verify
from financing.models import SignatureRecord

COLUMNS = (
    "seq",
    "signed_at",
    "membership",
    "email",
    "kind",
    "document_version",
    "document_sha256",
    "policy",
    "policy_digest",
    "signed_sha256",
    "record_hash",
    "ip",
)


def signature_register_rows(*, tenant: Any, start: Any, end: Any) -> list[list[str]]:
    rows = []
    for record in SignatureRecord.objects.filter(
        tenant=tenant, signed_at__gte=start, signed_at__lt=end
    ).order_by("seq"):
        rows.append(
            [
                str(record.seq),
                record.signed_at.isoformat(),
                str(record.membership_id),
                record.signer.get("email", ""),
                record.kind,
                record.document_version,
                record.document_sha256,
                f"{record.policy_name}@{record.policy_version}",
                record.policy_digest,
                record.signed_sha256,
                record.record_hash,
                record.ip or "",
            ]
        )
    return rows


def disclosures_build(*, tenant: Any, period: Any, appendix: Any) -> Any:
    from platform_core.audit.report_content import ReportBody, ReportSection

    rows = signature_register_rows(tenant=tenant, start=period.start, end=period.end)
    appendix.csv("signatures.csv", COLUMNS, rows)
    problems = signature_chain_verify(tenant=tenant)
    return ReportBody(
        summary=[
            (str(_("Signatures in the period")), str(len(rows))),
            (str(_("Signature chain")), str(_("intact")) if not problems else "; ".join(problems)),
        ],
        sections=[
            ReportSection(
                title=str(_("Signature register")),
                text=str(
                    _(
                        "Each signature pins the document's SHA-256 and the margin policy's "
                        "digest; the sealed PDF's hash is chained per tenant."
                    )
                ),
                columns=[
                    "#",
                    str(_("Signed at")),
                    str(_("Signer")),
                    str(_("Document")),
                    str(_("Policy")),
                    str(_("Signed PDF SHA-256")),
                ],
                rows=[[r[0], r[1], r[3], r[4], r[7], r[9]] for r in rows],
                numeric=[0],
            )
        ],
        empty=not rows,
    )


def disclosures_report_type() -> Any:
    """The report type, or None while the platform's pipeline (its contract) is not there."""
    try:
        from platform_core.audit import report_content  # noqa: F401
        from platform_core.hooks import ReportType
    except ImportError:
        return None
    fields = getattr(ReportType, "__dataclass_fields__", {})
    if "description" not in fields:  # the older placeholder contract: nothing to register with
        return None
    return ReportType(
        key="disclosures",
        title=_("Disclosures: the signature register"),
        build=disclosures_build,
        description=_("Every risk disclosure and credit agreement signed in the period."),
    )
