"""Token issuance (e-mail, password and a second factor in; a bearer token out) and revocation."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from platform_core.accounts.authentication import password_check, sign_in_audit
from platform_core.accounts.models import ApiToken
from platform_core.accounts.services import api_token_issue, api_token_revoke, otp_verify
from platform_core.api.authentication import ApiTokenAuthentication
from platform_core.api.views import TenantApiView
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.rls import rls_context, rls_set
from platform_core.tenancy.selectors import memberships_of_user


class TokenIssueThrottle(AnonRateThrottle):
    scope = "token_issue"


class TokenApi(APIView):
    """``POST`` issues a token; ``DELETE`` revokes the token used to call it."""

    class InputSerializer(serializers.Serializer):
        email = serializers.CharField(max_length=254)
        password = serializers.CharField(max_length=256, trim_whitespace=False)
        otp = serializers.CharField(max_length=32)
        tenant = serializers.SlugField(required=False, allow_blank=False)

        class Meta:
            ref_name = "TokenIssueInput"

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        tenant = serializers.CharField()
        expires_at = serializers.DateTimeField()

        class Meta:
            ref_name = "TokenIssued"

    def get_authenticators(self) -> list[Any]:
        # DELETE authenticates with the token it revokes; POST takes credentials in the body.
        # (The schema generator asks before there is a request: describe DELETE's.)
        method = getattr(self.request, "method", "DELETE")
        return [ApiTokenAuthentication()] if method == "DELETE" else []

    def get_permissions(self) -> list[Any]:
        if self.request.method == "DELETE":
            return [IsAuthenticated()]
        return [AllowAny()]

    def get_throttles(self) -> list[Any]:
        return [TokenIssueThrottle()] if self.request.method == "POST" else []

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        checked = password_check(
            request=request._request,
            email=values["email"],
            password=values["password"],
            channel="api",
        )
        if checked.throttled:
            raise ApplicationError(429, "throttled", "Too many failed attempts; try again later.")
        if checked.user is None:
            raise ApplicationError(401, "invalid_credentials", "E-mail or password is wrong.")
        user = checked.user
        rls_set(user=user)  # their memberships in every tenant become readable
        memberships = list(memberships_of_user(user=user))
        slug = values.get("tenant")
        chosen = [m for m in memberships if m.tenant.slug == slug] if slug else memberships[:1]
        if not chosen:
            raise ApplicationError(
                400,
                "invalid",
                "The request has invalid fields.",
                {
                    "tenant": [
                        "You have no active membership in this tenant."
                        if slug
                        else "You have no active membership in any tenant."
                    ]
                },
            )
        membership = chosen[0]
        outcome = otp_verify(user=user, token=values["otp"])
        if outcome.device is None:
            sign_in_audit(
                request=request._request,
                user=user,
                password_verified=True,
                tenant=membership.tenant,
                action="auth.otp_failed",
                channel="api",
                throttled=outcome.throttled,
            )
            if outcome.throttled:
                raise ApplicationError(429, "throttled", "Too many wrong codes; try again later.")
            raise ApplicationError(
                401, "invalid_otp", "The one-time code is wrong or was already used."
            )
        with rls_context(tenant=membership.tenant):
            key, token = api_token_issue(membership=membership, request=request._request)
        body = self.OutputSerializer(
            {"token": key, "tenant": membership.tenant.slug, "expires_at": token.expires_at}
        ).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        token = request.auth
        assert isinstance(token, ApiToken)
        with rls_context(tenant=token.membership.tenant_id):
            api_token_revoke(token=token, actor=request.user, request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(TenantApiView):
    """Who am I, in which tenant, with which role."""

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "email": serializers.EmailField(),
                "tenant": serializers.CharField(),
                "membership_id": serializers.IntegerField(),
                "role": serializers.CharField(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "email": request.user.email,
                "tenant": request.tenant.slug,
                "membership_id": request.membership.pk,
                "role": request.membership.role,
            }
        )
