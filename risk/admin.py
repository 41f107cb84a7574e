"""Risk's append-only records (quotes, orders, status history), read-only in the admin."""

from platform_core.admin_site import register_read_only
from risk.models import MarginStatusChange, Order, Quote

register_read_only(Quote, Order, MarginStatusChange)
