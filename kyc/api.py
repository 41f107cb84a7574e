"""/api/v1/kyc/: the client's onboarding status and suitability; compliance's cases and
screening hits, and the decision on a hit.

Views parse, authorise and call ``kyc.services`` / ``kyc.screening.services``; reads go through
the selectors, so every object is the caller's tenant's (another tenant's id is the same 404
as a missing one). Responses carry ids, codes and outcomes, not the client's personal data.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from kyc.forms import STEPS
from kyc.models import ClientProfile, KycCase
from kyc.rating import reason_text
from kyc.screening import selectors as screening_selectors
from kyc.screening import services as screening_services
from kyc.screening.models import ScreeningHit
from kyc.selectors import (
    case_checks,
    case_queue,
    hit_clear_pending,
    hit_explanation,
    latest_assessment,
    latest_rating,
    open_info_requests,
    profile_for,
    profiles_by_ref,
)
from kyc.services import access_case_by_id, case_blocking_reasons
from kyc.suitability import QUESTIONNAIRE_VERSION
from platform_core.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent_write
from platform_core.api.pagination import PlatformPagination
from platform_core.api.views import TenantApiView
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.roles import Role

COMPLIANCE = frozenset({Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN})
HIT_DECIDERS = frozenset({Role.COMPLIANCE_OFFICER})
WIZARD_STEPS = [step for step in STEPS if step != "review"]


# --- the client ------------------------------------------------------------------------------


class InfoRequestSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    message = serializers.CharField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "KycInfoRequest"


class OnboardingStatusSerializer(serializers.Serializer):
    status = serializers.CharField(
        help_text="not_started, draft, submitted, more_info, approved or rejected"
    )
    steps_done = serializers.ListField(child=serializers.CharField())
    steps_missing = serializers.ListField(child=serializers.CharField())
    submitted_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    info_requests = InfoRequestSerializer(many=True)

    class Meta:
        ref_name = "KycOnboardingStatus"


class OnboardingStatusApi(TenantApiView):
    """The calling client's onboarding file: where it stands and what is asked of them."""

    allowed_roles = frozenset({Role.CLIENT})

    @extend_schema(responses=OnboardingStatusSerializer)
    def get(self, request: Request) -> Response:
        profile = profile_for(tenant=request.tenant, membership=request.membership)
        done = list(profile.steps_done) if profile else []
        body = {
            "status": profile.status if profile else "not_started",
            "steps_done": [s for s in WIZARD_STEPS if s in done],
            "steps_missing": [s for s in WIZARD_STEPS if s not in done],
            "submitted_at": profile.submitted_at if profile else None,
            "decided_at": profile.decided_at if profile else None,
            "info_requests": open_info_requests(profile=profile) if profile else [],
        }
        return Response(OnboardingStatusSerializer(body).data)


class SuitabilitySerializer(serializers.Serializer):
    status = serializers.CharField(
        help_text="approved, or provisional: the questionnaire's result before compliance "
        "approved the file"
    )
    investor_class = serializers.CharField(help_text="C1 (most conservative) to C5")
    allowed_risk_levels = serializers.ListField(
        child=serializers.CharField(), help_text="product risk levels R1-R5 this class may buy"
    )
    leverage_cap = serializers.DecimalField(max_digits=6, decimal_places=2)
    professional = serializers.BooleanField()
    questionnaire_version = serializers.CharField()
    current_questionnaire = serializers.BooleanField()
    assessed_at = serializers.DateTimeField()

    class Meta:
        ref_name = "KycSuitability"


class SuitabilityApi(TenantApiView):
    """The calling client's suitability result (China's investor suitability rules)."""

    allowed_roles = frozenset({Role.CLIENT})

    @extend_schema(
        responses=SuitabilitySerializer,
        description="404 `not_assessed` until the client has answered the questionnaire.",
    )
    def get(self, request: Request) -> Response:
        profile = profile_for(tenant=request.tenant, membership=request.membership)
        assessment = latest_assessment(profile=profile) if profile else None
        if assessment is None:
            raise ApplicationError(
                404, "not_assessed", "You have not answered the suitability questionnaire yet."
            )
        approved = profile.status == ClientProfile.Status.APPROVED
        body = {
            "status": "approved" if approved else "provisional",
            "investor_class": assessment.investor_class,
            "allowed_risk_levels": list(assessment.allowed_risk_levels),
            "leverage_cap": assessment.leverage_cap,
            "professional": assessment.professional,
            "questionnaire_version": assessment.questionnaire_version,
            "current_questionnaire": assessment.questionnaire_version == QUESTIONNAIRE_VERSION,
            "assessed_at": assessment.created_at,
        }
        return Response(SuitabilitySerializer(body).data)


# --- compliance: cases -----------------------------------------------------------------------


class CaseSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    kind = serializers.CharField()
    status = serializers.CharField()
    client = serializers.IntegerField(source="profile.membership_id", help_text="membership id")
    profile = serializers.IntegerField(source="profile_id")
    assignee = serializers.EmailField(source="assignee.email", allow_null=True, default=None)
    opened_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_reason = serializers.CharField()

    class Meta:
        ref_name = "KycCase"


class CaseCheckSerializer(serializers.Serializer):
    code = serializers.CharField()
    status = serializers.CharField()
    note = serializers.CharField()

    class Meta:
        ref_name = "KycCaseCheck"


class RatingSerializer(serializers.Serializer):
    level = serializers.CharField()
    score = serializers.IntegerField()
    reasons = serializers.ListField(child=serializers.CharField())
    next_review_on = serializers.DateField()
    rated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "KycRiskRating"


class CaseDetailSerializer(CaseSerializer):
    checks = CaseCheckSerializer(many=True)
    info_requests = InfoRequestSerializer(many=True)
    blocking = serializers.ListField(
        child=serializers.CharField(), help_text="why the case cannot be approved now"
    )
    rating = RatingSerializer(allow_null=True)
    hits = serializers.ListField(child=serializers.IntegerField(), help_text="screening hit ids")

    class Meta:
        ref_name = "KycCaseDetail"


class CaseListApi(TenantApiView):
    """The tenant's KYC cases: open ones by default, oldest first."""

    allowed_roles = COMPLIANCE
    pagination_class = PlatformPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=KycCase.Status.values),
            OpenApiParameter("kind", str, enum=KycCase.Kind.values),
        ],
        responses=CaseSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        problems: dict[str, list[str]] = {}
        state = request.query_params.get("status") or None
        kind = request.query_params.get("kind") or None
        if state and state not in KycCase.Status.values:
            problems["status"] = [f"{state!r} is not a case status."]
        if kind and kind not in KycCase.Kind.values:
            problems["kind"] = [f"{kind!r} is not a case kind."]
        if problems:
            raise serializers.ValidationError(problems)
        queryset = case_queue(tenant=request.tenant, status=state)
        if kind:
            queryset = queryset.filter(kind=kind)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(CaseSerializer(page, many=True).data)


class CaseDetailApi(TenantApiView):
    allowed_roles = COMPLIANCE

    @extend_schema(responses=CaseDetailSerializer)
    def get(self, request: Request, case_id: int) -> Response:
        tenant = request.tenant
        case = access_case_by_id(tenant=tenant, case_id=case_id)
        rating = latest_rating(profile=case.profile)
        body = {
            **CaseSerializer(case).data,
            "checks": CaseCheckSerializer(case_checks(case=case), many=True).data,
            "info_requests": InfoRequestSerializer(
                case.info_requests.filter(tenant=tenant).order_by("pk"), many=True
            ).data,
            "blocking": [str(reason) for reason in case_blocking_reasons(case)],
            "rating": {
                "level": rating.level,
                "score": rating.score,
                "reasons": [reason_text(r) for r in rating.reasons],
                "next_review_on": rating.next_review_on,
                "rated_at": rating.created_at,
            }
            if rating
            else None,
            "hits": list(
                screening_selectors.subject_hits(
                    tenant=tenant, ref=str(case.profile_id)
                ).values_list("pk", flat=True)
            ),
        }
        return Response(body)


# --- compliance: screening hits --------------------------------------------------------------


class ListedEntitySerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    list = serializers.CharField(source="source.name")
    key = serializers.CharField()
    schema = serializers.CharField()
    caption = serializers.CharField()
    names = serializers.ListField(child=serializers.CharField())
    birth_dates = serializers.ListField(child=serializers.CharField())
    countries = serializers.ListField(child=serializers.CharField())
    topics = serializers.ListField(child=serializers.CharField())

    class Meta:
        ref_name = "KycListedEntity"


class HitSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    profile = serializers.IntegerField(source="subject_ref")
    client = serializers.IntegerField(
        allow_null=True, help_text="membership id of the screened client"
    )
    entity = ListedEntitySerializer()
    score = serializers.DecimalField(max_digits=4, decimal_places=3)
    band = serializers.ChoiceField(choices=["hit", "review"])
    status = serializers.CharField(help_text="open, cleared (false positive) or confirmed")
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_reason = serializers.CharField()

    class Meta:
        ref_name = "KycScreeningHit"


class FeatureSerializer(serializers.Serializer):
    name = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    detail = serializers.CharField(allow_blank=True)

    class Meta:
        ref_name = "KycMatchFeature"


class HitDetailSerializer(HitSerializer):
    matched_name = serializers.CharField(allow_blank=True)
    features = FeatureSerializer(many=True)

    class Meta:
        ref_name = "KycScreeningHitDetail"


def _hit_rows(tenant: Any, hits: list[ScreeningHit]) -> list[ScreeningHit]:
    profiles = profiles_by_ref(tenant=tenant, refs={h.subject_ref for h in hits})
    for hit in hits:
        profile = profiles.get(hit.subject_ref)
        hit.client = profile.membership_id if profile else None
    return hits


def _hit_detail(tenant: Any, hit: ScreeningHit) -> dict[str, Any]:
    (hit,) = _hit_rows(tenant, [hit])
    return {**HitSerializer(hit).data, **hit_explanation(tenant=tenant, hit=hit)}


class HitListApi(TenantApiView):
    """Unresolved screening hits, strongest first (``hit`` blocks approval, ``review`` is the
    review band)."""

    allowed_roles = COMPLIANCE
    pagination_class = PlatformPagination

    @extend_schema(
        parameters=[OpenApiParameter("band", str, enum=["hit", "review"])],
        responses=HitSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        band = request.query_params.get("band") or None
        if band and band not in ("hit", "review"):
            raise serializers.ValidationError({"band": [f"{band!r} is not hit or review."]})
        queryset = screening_selectors.hit_queue(tenant=request.tenant, band=band)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            queryset.select_related("entity__source"), request, view=self
        )
        rows = _hit_rows(request.tenant, list(page))
        return paginator.get_paginated_response(HitSerializer(rows, many=True).data)


class HitDetailApi(TenantApiView):
    allowed_roles = COMPLIANCE

    @extend_schema(
        responses=HitDetailSerializer,
        description="The hit with the features the matcher scored and the listed name that "
        "matched best.",
    )
    def get(self, request: Request, hit_id: int) -> Response:
        hit = screening_selectors.access_hit_by_id(tenant=request.tenant, hit_id=hit_id)
        return Response(_hit_detail(request.tenant, hit))


class HitResolveInput(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["true_match", "false_positive"])
    reason = serializers.CharField(max_length=2000)
    whitelist_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=3660,
        help_text="false positive only: do not raise this client-entity pair again for so long",
    )

    class Meta:
        ref_name = "KycHitResolveInput"

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["decision"] == "true_match" and attrs.get("whitelist_days"):
            raise serializers.ValidationError(
                {"whitelist_days": ["Only a false positive is whitelisted."]}
            )
        return attrs


class HitResolutionSerializer(serializers.Serializer):
    hit = HitDetailSerializer()
    approval_id = serializers.IntegerField(
        allow_null=True,
        help_text="a strong hit cleared as a false positive waits for a second officer "
        "(the approvals API); the hit stays open until then",
    )

    class Meta:
        ref_name = "KycHitResolution"


class HitResolveApi(TenantApiView):
    """A compliance officer's decision: a true match (the client stays blocked), or a false
    positive with a reason, optionally whitelisted for the continuous re-screening."""

    allowed_roles = HIT_DECIDERS

    @extend_schema(
        request=HitResolveInput,
        responses=HitResolutionSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        description="409 `hit_already_decided` when the hit is no longer open, "
        "`hit_clear_pending` while a request to clear it waits for a second officer.",
    )
    def post(self, request: Request, hit_id: int) -> Response:
        tenant = request.tenant
        hit = screening_selectors.access_hit_by_id(tenant=tenant, hit_id=hit_id)
        data = HitResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)

        def write() -> tuple[int, dict[str, Any]]:
            if hit_clear_pending(tenant=tenant, hit=hit) is not None:
                raise ApplicationError(
                    409,
                    "hit_clear_pending",
                    "A request to clear this hit already waits for a second officer.",
                )
            approval = None
            if fields["decision"] == "true_match":
                decided = screening_services.screening_hit_confirm(
                    tenant=tenant,
                    actor=request.user,
                    hit_id=hit.pk,
                    reason=fields["reason"],
                    request=request._request,
                )
            else:
                outcome = screening_services.screening_hit_clear(
                    tenant=tenant,
                    actor=request.user,
                    hit_id=hit.pk,
                    reason=fields["reason"],
                    membership=request.membership,
                    whitelist_days=fields.get("whitelist_days"),
                    request=request._request,
                )
                decided, approval = outcome.hit, outcome.approval
            body = {
                "hit": _hit_detail(tenant, decided),
                "approval_id": approval.pk if approval is not None else None,
            }
            return status.HTTP_200_OK, body

        return idempotent_write(
            request=request,
            tenant=tenant,
            operation="kyc.hit_resolve",
            request_fields={**fields, "hit": hit.pk, "requester": request.membership.pk},
            write=write,
        )
