"""/api/v1/kyc/ (included by the project's root urls, in the ``kyc-api`` namespace)."""

from django.urls import re_path

from kyc import api

urlpatterns = [
    re_path(r"^me/onboarding/?$", api.OnboardingStatusApi.as_view(), name="kyc-onboarding"),
    re_path(r"^me/suitability/?$", api.SuitabilityApi.as_view(), name="kyc-suitability"),
    re_path(r"^cases/?$", api.CaseListApi.as_view(), name="kyc-cases"),
    re_path(r"^cases/(?P<case_id>[0-9]+)/?$", api.CaseDetailApi.as_view(), name="kyc-case-detail"),
    re_path(r"^hits/?$", api.HitListApi.as_view(), name="kyc-hits"),
    re_path(r"^hits/(?P<hit_id>[0-9]+)/?$", api.HitDetailApi.as_view(), name="kyc-hit-detail"),
    re_path(
        r"^hits/(?P<hit_id>[0-9]+)/resolve/?$",
        api.HitResolveApi.as_view(),
        name="kyc-hit-resolve",
    ),
]
