"""Onboarding, suitability, risk rating, sanctions/PEP screening, transaction monitoring."""
