"""The margin-call loop's ratio marks, read-only in the admin."""

from platform_core.admin_site import register_read_only
from risk.operations.models import RatioMark

register_read_only(RatioMark)
