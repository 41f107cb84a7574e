from typing import Any

from django.db.models import QuerySet
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response


class PlatformPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def paginated_response(
    request: Request, view: Any, queryset: QuerySet, serializer: type
) -> Response:
    """One page of ``queryset`` through ``serializer`` in the platform's paged envelope."""
    paginator = PlatformPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True).data)
