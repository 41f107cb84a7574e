"""Sanctions and PEP lists, and the screening of clients against them.

Two halves:

- **Lists** (global tables, no tenant: a published sanctions list is the same public data for
  every operator). ``ListSource`` and ``ListVersion`` are append-only; ``ListEntity`` is the
  current state of one listed person or organisation, rewritten only by the importer, which
  records in which version each entity was listed, last changed or delisted.
  ``ListEntityName`` and ``ListNameKey`` are the candidate-generation index (trigram on the
  normalised name; token, phonetic and pinyin keys), derived from the entity on import.
- **Screening** (tenant tables). A run and its results are append-only: each screening of a
  client stores every candidate it scored, with its features, and never overwrites an older
  run. Hits carry the officer's disposition; whitelist entries are append-only with an expiry.

Clients are known only by ``subject_ref`` (the kyc client profile's id as text): no client
name, birth date or nationality is stored here (see docs/decisions.md, entry 16).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils.translation import gettext_lazy as _

SCORE_DIGITS, SCORE_PLACES = 4, 3


class ListSource(models.Model):
    """A published list, by the name the operator imports it under (``un-sc``, ``ofac-sdn``)."""

    name = models.CharField(max_length=100, unique=True)
    format = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class ListVersion(models.Model):
    """One imported file of a list: its SHA-256 and what changed against the version before."""

    source = models.ForeignKey(ListSource, on_delete=models.PROTECT, related_name="versions")
    seq = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    file_name = models.CharField(max_length=255)
    imported_at = models.DateTimeField(auto_now_add=True)
    entity_count = models.PositiveIntegerField()
    added_count = models.PositiveIntegerField()
    changed_count = models.PositiveIntegerField()
    removed_count = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "seq"], name="listversion_seq_key"),
        ]
        indexes = [models.Index(fields=["source", "content_hash"], name="listversion_hash_idx")]

    def __str__(self) -> str:
        return f"{self.source_id} v{self.seq} ({self.content_hash[:12]})"


class ListEntity(models.Model):
    """A listed person, organisation, vessel...: the current state from the latest version."""

    source = models.ForeignKey(ListSource, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=200)  # the list's own id (FtM id, OFAC ent_num)
    schema = models.CharField(max_length=40)  # FtM schema: Person, Organization, Vessel...
    caption = models.TextField()
    names = ArrayField(models.TextField())  # every strong name, in every script
    weak_aliases = ArrayField(models.TextField(), default=list)
    birth_dates = ArrayField(models.CharField(max_length=10), default=list)  # ISO, maybe partial
    countries = ArrayField(models.CharField(max_length=10), default=list)  # ISO 3166-1 alpha-2
    topics = ArrayField(models.CharField(max_length=40), default=list)  # sanction, role.pep...
    programs = ArrayField(models.TextField(), default=list)
    content_hash = models.CharField(max_length=64)
    listed_in = models.ForeignKey(ListVersion, on_delete=models.PROTECT, related_name="+")
    changed_in = models.ForeignKey(ListVersion, on_delete=models.PROTECT, related_name="+")
    delisted_in = models.ForeignKey(
        ListVersion, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "key"], name="listentity_key"),
        ]
        indexes = [models.Index(fields=["changed_in"], name="listentity_changed_idx")]

    def __str__(self) -> str:
        return f"{self.caption} ({self.key})"


class ListEntityName(models.Model):
    """A name of a listed entity in its normalised Latin form, for trigram candidates."""

    pk = models.CompositePrimaryKey("entity", "norm")
    entity = models.ForeignKey(ListEntity, on_delete=models.CASCADE, related_name="+")
    norm = models.TextField()

    class Meta:
        indexes = [
            GinIndex(fields=["norm"], name="listentityname_trgm", opclasses=["gin_trgm_ops"])
        ]

    def __str__(self) -> str:
        return self.norm


class ListNameKey(models.Model):
    """A blocking key of a listed entity: ``t:`` token, ``p:`` phonetic, ``f:`` fused name.

    The primary key leads with the key, so candidate lookups are index-only scans.
    """

    pk = models.CompositePrimaryKey("key", "entity")
    key = models.CharField(max_length=120)
    entity = models.ForeignKey(ListEntity, on_delete=models.CASCADE, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["entity"], name="listnamekey_entity_idx")]

    def __str__(self) -> str:
        return self.key


# --- tenant tables ---------------------------------------------------------------------------


class Band(models.TextChoices):
    CLEAR = "clear", _("Clear")
    REVIEW = "review", _("Review")
    HIT = "hit", _("Hit")


class ScreeningSettings(models.Model):
    """A tenant's thresholds (defaults: yente's match 0.70 and cutoff 0.50)."""

    tenant = models.OneToOneField("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    match_threshold = models.DecimalField(
        max_digits=SCORE_DIGITS, decimal_places=SCORE_PLACES, default=Decimal("0.700")
    )
    review_threshold = models.DecimalField(
        max_digits=SCORE_DIGITS, decimal_places=SCORE_PLACES, default=Decimal("0.500")
    )
    # Clearing a hit scored at or above this needs a second officer (four eyes).
    strong_threshold = models.DecimalField(
        max_digits=SCORE_DIGITS, decimal_places=SCORE_PLACES, default=Decimal("0.900")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "id"], name="screeningsettings_tenant_id_key"
            ),
            models.CheckConstraint(
                condition=models.Q(review_threshold__gt=0)
                & models.Q(review_threshold__lte=models.F("match_threshold"))
                & models.Q(match_threshold__lte=models.F("strong_threshold"))
                & models.Q(strong_threshold__lte=1),
                name="screeningsettings_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"thresholds of tenant {self.tenant_id}"


class ScreeningRun(models.Model):
    """One screening of one client: the lists as they were, the band, every candidate scored."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    subject_ref = models.CharField(max_length=64)
    # SHA-256 of the subject's screened data: tells a changed profile without storing it.
    subject_digest = models.CharField(max_length=64)
    reason = models.CharField(max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    algorithm = models.CharField(max_length=64)
    list_versions = models.JSONField(default=dict)  # {source name: version seq}
    match_threshold = models.DecimalField(max_digits=SCORE_DIGITS, decimal_places=SCORE_PLACES)
    review_threshold = models.DecimalField(max_digits=SCORE_DIGITS, decimal_places=SCORE_PLACES)
    band = models.CharField(max_length=8, choices=Band.choices)
    top_score = models.DecimalField(max_digits=SCORE_DIGITS, decimal_places=SCORE_PLACES)
    candidate_count = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="screeningrun_tenant_id_key"),
        ]
        indexes = [
            models.Index(fields=["tenant", "subject_ref", "-id"], name="screeningrun_latest_idx")
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.subject_ref}: {self.band}"


class ScreeningResult(models.Model):
    """One scored candidate of a run, with the features that drove the score."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    run = models.ForeignKey(
        ScreeningRun, on_delete=models.PROTECT, related_name="results", db_constraint=False
    )
    entity = models.ForeignKey(ListEntity, on_delete=models.PROTECT, related_name="+")
    entity_hash = models.CharField(max_length=64)  # the entity as it was when scored
    score = models.DecimalField(max_digits=SCORE_DIGITS, decimal_places=SCORE_PLACES)
    band = models.CharField(max_length=8, choices=Band.choices)
    features = models.JSONField(default=dict)
    matched_name = models.TextField()  # the listed name that scored best (public list data)
    whitelisted = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="screeningresult_tenant_id_key"),
        ]
        indexes = [models.Index(fields=["tenant", "run"], name="screeningresult_run_idx")]

    def __str__(self) -> str:
        return f"result {self.pk}: {self.entity_id} {self.score}"


class ScreeningHit(models.Model):
    """A candidate at or above the review threshold, waiting for or carrying a decision.

    Band ``hit`` (at or above the match threshold) blocks the client's approval while open;
    band ``review`` is the review queue. A confirmed hit always blocks.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLEARED = "cleared", _("Cleared")
        CONFIRMED = "confirmed", _("Confirmed")

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    subject_ref = models.CharField(max_length=64)
    entity = models.ForeignKey(ListEntity, on_delete=models.PROTECT, related_name="+")
    entity_hash = models.CharField(max_length=64)
    subject_digest = models.CharField(max_length=64)
    first_run = models.ForeignKey(
        ScreeningRun, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    last_run = models.ForeignKey(
        ScreeningRun, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    band = models.CharField(max_length=8, choices=Band.choices)
    score = models.DecimalField(max_digits=SCORE_DIGITS, decimal_places=SCORE_PLACES)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="screeninghit_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "subject_ref", "entity"],
                condition=models.Q(status="open"),
                name="screeninghit_one_open",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "subject_ref", "status"], name="screeninghit_subject_idx"
            ),
            models.Index(fields=["tenant", "status", "band"], name="screeninghit_queue_idx"),
        ]

    def __str__(self) -> str:
        return f"hit {self.pk}: {self.subject_ref} ~ {self.entity_id} ({self.status})"


class WhitelistEntry(models.Model):
    """A client-entity pair an officer judged a false positive, until it expires.

    It lapses early when the listed entity changes (``entity_hash``), so a new listing
    detail is always looked at again.
    """

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    subject_ref = models.CharField(max_length=64)
    entity = models.ForeignKey(ListEntity, on_delete=models.PROTECT, related_name="+")
    entity_hash = models.CharField(max_length=64)
    reason = models.TextField()
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="whitelistentry_tenant_id_key"),
        ]
        indexes = [
            models.Index(fields=["tenant", "subject_ref", "entity"], name="whitelist_pair_idx")
        ]

    def __str__(self) -> str:
        return f"whitelist {self.subject_ref} ~ {self.entity_id} until {self.expires_at:%Y-%m-%d}"


class DeltaScreening(models.Model):
    """A list version's new and changed entities screened against every client of a tenant.

    Until it exists for a version imported after a client's latest run, that client's
    screening is pending and approval is refused.
    """

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey(ListVersion, on_delete=models.PROTECT, related_name="+")
    subjects_indexed = models.PositiveIntegerField()
    entities_checked = models.PositiveIntegerField()
    subjects_rescreened = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="deltascreening_tenant_id_key"),
            models.UniqueConstraint(fields=["tenant", "version"], name="deltascreening_once"),
        ]

    def __str__(self) -> str:
        return f"delta of version {self.version_id} for tenant {self.tenant_id}"
