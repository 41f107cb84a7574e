"""Financing's pages, included at the site root by ``platform_core.urls``."""

from django.urls import path

from financing import views

urlpatterns = [
    path("credit/", views.portal_credit, name="portal-credit"),
    path("credit/draw/", views.portal_credit_draw, name="portal-credit-draw"),
    path(
        "credit/documents/risk-disclosure/",
        views.portal_document,
        {"kind": "risk_disclosure"},
        name="portal-risk-disclosure",
    ),
    path(
        "credit/documents/credit-agreement/",
        views.portal_document,
        {"kind": "credit_agreement"},
        name="portal-credit-agreement",
    ),
    path(
        "credit/documents/file/<int:document_id>/",
        views.portal_document_pdf,
        name="portal-document-pdf",
    ),
    path(
        "credit/signatures/<int:signature_id>/pdf/",
        views.portal_signature_pdf,
        name="portal-signature-pdf",
    ),
    path("credit/contracts/<int:contract_id>/", views.portal_contract, name="portal-contract"),
    path("console/funding/", views.console_funding, name="console-funding"),
    path("console/credit-lines/", views.console_credit_lines, name="console-credit-lines"),
]
