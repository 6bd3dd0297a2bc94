"""Every supervision write: rule parameters, runs, triage and the case's closed loop.

Each service is one transaction that locks the row it changes, checks who may do it and in
which status, writes, and appends its audit event (`audit_record`) in the same transaction.
Supervision writes only its own tables; it reads the other apps through their selectors.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR, is_system
from qinglian.core.audit import audit_record
from qinglian.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from qinglian.org.models import Department, User
from qinglian.org.scopes import group_company_id

from . import inputs, registry, sources
from .enums import (
    CaseEventKind,
    CaseStatus,
    FindingStatus,
    RunStatus,
    RunTrigger,
    Severity,
    SupervisionErrorCode,
)
from .models import (
    Case,
    CaseEvent,
    Finding,
    FindingDocument,
    Rectification,
    RectificationAttachment,
    RuleParameterVersion,
    RuleSetting,
    RuleState,
    Run,
)
from .permissions import (
    UNIT_LEADER_ROLES,
    can_edit_rules,
    inspector_company_ids,
    is_case_responsible,
    is_inspector,
    oversight_company_ids,
)
from .selectors import case_visible

logger = logging.getLogger(__name__)

CHUNK = 1000
ESCALATE_AGAIN_AFTER = datetime.timedelta(days=7)
MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
MAX_TEXT = 5000


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _user_or_none(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def _required_text(value: str, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            fields={field: [_("This field is required.")]},
        )
    if len(text) > MAX_TEXT:
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            fields={field: [_("At most %(limit)d characters.") % {"limit": MAX_TEXT}]},
        )
    return text


def _require_inspector(actor: Any, company_id: int | None) -> None:
    """After the reader was found to see the row: refuse those who may only read."""
    if company_id is None or not is_inspector(actor, company_id):
        raise PermissionDenied(
            _("Only a discipline inspector of this company may do this."),
            code=SupervisionErrorCode.NOT_INSPECTOR,
        )


def _mail_later(user_ids: list[int], subject: str, body: str) -> None:
    from .tasks import supervision_mail_send  # the tasks module imports this one

    supervision_mail_send(user_ids, subject, body)


def _mail_on_commit(user_ids: Iterable[int], subject: str, body: str) -> None:
    ids = list(dict.fromkeys(user_id for user_id in user_ids if user_id))
    if ids:
        transaction.on_commit(
            functools.partial(_mail_later, ids, f"[清廉] {subject}"[:150], body), robust=True
        )


# ---------------------------------------------------------------- rule parameters


def _rule_or_404(rule_code: str) -> registry.Rule:
    rule = registry.rule_get(rule_code)
    if rule is None:
        raise NotFound(_("Rule not found."), code=SupervisionErrorCode.UNKNOWN_RULE)
    return rule


def _setting_locked(rule: registry.Rule) -> RuleSetting:
    """The rule's setting row, locked; created with the defaults as version 1 the first time."""
    setting = RuleSetting.objects.select_for_update().filter(rule_code=rule.code).first()
    if setting is not None:
        return setting
    now = clock.now()
    defaults = rule.defaults()
    try:
        with transaction.atomic():
            setting = RuleSetting.objects.create(
                rule_code=rule.code, parameters=defaults, version=1, updated_at=now
            )
            RuleParameterVersion.objects.create(
                rule_code=rule.code, number=1, parameters=defaults, created_at=now
            )
    except IntegrityError:  # created by a concurrent first run
        setting = RuleSetting.objects.select_for_update().get(rule_code=rule.code)
    return setting


@transaction.atomic
def rule_parameters_update(
    *,
    actor: Any,
    rule_code: str,
    parameters: Mapping[str, Any],
    is_enabled: bool | None = None,
    reason: str = "",
    expected_version: int | None = None,
) -> RuleSetting:
    """Inspectors of the group change a rule's parameters: a new version, audited. Unchanged
    values make no version."""
    if not is_system(actor) and not can_edit_rules(actor):
        raise PermissionDenied(
            _("Only a discipline inspector of the group edits rule parameters."),
            code=SupervisionErrorCode.NOT_INSPECTOR,
        )
    rule = _rule_or_404(rule_code)
    try:
        cleaned = rule.clean_parameters(parameters)
    except registry.ParameterError as error:
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            code=SupervisionErrorCode.INVALID_PARAMETERS,
            fields=error.problems,
        ) from error
    setting = _setting_locked(rule)
    if expected_version is not None and expected_version != setting.version:
        raise Conflict(
            _("Someone else changed this rule's parameters meanwhile; reload and try again."),
            code=SupervisionErrorCode.STALE,
        )
    enabled = setting.is_enabled if is_enabled is None else is_enabled
    before = {**rule.defaults(), **setting.parameters}
    if cleaned == before and enabled == setting.is_enabled:
        return setting
    now = clock.now()
    changes: dict[str, list[Any]] = {
        key: [before.get(key), value] for key, value in cleaned.items() if before.get(key) != value
    }
    if enabled != setting.is_enabled:
        changes["is_enabled"] = [setting.is_enabled, enabled]
    changes["version"] = [setting.version, setting.version + 1]
    setting.version += 1
    setting.parameters = cleaned
    setting.is_enabled = enabled
    setting.updated_by = _user_or_none(actor)
    setting.updated_at = now
    setting.save()
    RuleParameterVersion.objects.create(
        rule_code=rule.code,
        number=setting.version,
        parameters=cleaned,
        is_enabled=enabled,
        reason=reason.strip()[:500],
        created_by=_user_or_none(actor),
        created_at=now,
    )
    if reason.strip():
        changes["reason"] = [None, reason.strip()[:500]]
    audit_record(
        actor=actor,
        action="supervision.rule.updated",
        company_id=group_company_id(),
        object_type="supervision.rule",
        object_id=rule.code,
        object_repr=str(rule.title),
        changes=changes,
    )
    return setting


def rule_parameters_load(*, actor: Any, document: Mapping[str, Any]) -> list[str]:
    """Load parameters exported by `rule_parameters_export` (another environment's settings):
    every rule in the document is updated, or none when one is refused. Returns the codes
    that changed."""
    rules = document.get("rules")
    if not isinstance(rules, Mapping):
        raise ValidationFailed(_('Expected {"rules": {code: {parameters, is_enabled}}}.'))
    changed: list[str] = []
    with transaction.atomic():
        for code, entry in rules.items():
            if not isinstance(entry, Mapping):
                raise ValidationFailed(_("Rule %(code)s: expected an object.") % {"code": code})
            before = RuleSetting.objects.filter(rule_code=code).values_list("version", flat=True)
            version_before = before.first() or 1  # a rule never stored runs on v1, its defaults
            setting = rule_parameters_update(
                actor=actor,
                rule_code=str(code),
                parameters=entry.get("parameters") or {},
                is_enabled=bool(entry.get("is_enabled", True)),
                reason=str(entry.get("reason") or _("Loaded from a parameter file")),
            )
            if setting.version != version_before:
                changed.append(str(code))
    return changed


def rule_parameters_export() -> dict[str, Any]:
    """Every rule's current parameters as a JSON document (`rule_parameters_load` reads it)."""
    stored = {setting.rule_code: setting for setting in RuleSetting.objects.all()}
    rules: dict[str, Any] = {}
    for rule in registry.all_rules():
        setting = stored.get(rule.code)
        values = {**rule.defaults(), **(setting.parameters if setting else {})}
        rules[rule.code] = {
            "parameters": {key: values[key] for key in rule.parameter_keys()},
            "is_enabled": setting.is_enabled if setting else True,
            "version": setting.version if setting else 1,
        }
    return {"format": "qinglian.supervision.parameters/1", "rules": rules}


# ---------------------------------------------------------------- runs


@dataclass
class RuleOutcome:
    rule_code: str
    parameter_version: int
    hits: int
    new: int
    seen_again: int
    seconds: float
    skipped_since: int | None = None  # skipped as unchanged: the run whose findings it kept

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "hits": self.hits,
            "new": self.new,
            "seen_again": self.seen_again,
            "seconds": round(self.seconds, 3),
            "parameter_version": self.parameter_version,
        }
        if self.skipped_since is not None:
            data["skipped"] = True
            data["since_run"] = self.skipped_since
        return data


def _selected_rules(rule_codes: Sequence[str] | None) -> list[registry.Rule]:
    if rule_codes:
        unknown = [code for code in rule_codes if registry.rule_get(code) is None]
        if unknown:
            raise ValidationFailed(
                _("Unknown rule: %(codes)s") % {"codes": ", ".join(unknown)},
                code=SupervisionErrorCode.UNKNOWN_RULE,
                fields={"rules": unknown},
            )
        wanted = set(rule_codes)
        return [rule for rule in registry.all_rules() if rule.code in wanted]
    disabled = set(RuleSetting.objects.filter(is_enabled=False).values_list("rule_code", flat=True))
    return [rule for rule in registry.all_rules() if rule.code not in disabled]


@dataclass(frozen=True)
class _RunPlan:
    """What a run compares each rule's inputs with: the watermark it took when it started, and
    (unless it runs everything) the audit events since the rules' stored watermarks."""

    watermark: inputs.Watermark
    changes: inputs.AuditChanges | None  # None: nothing is skipped


def _known_labels(rules: Sequence[registry.Rule]) -> set[str]:
    labels: set[str] = set()
    for rule in rules:
        for label in inputs.rule_reads(rule) or ():
            try:
                apps.get_model(label)
            except (LookupError, ValueError):
                continue  # the rule's inputs cannot be watched: it always runs
            labels.add(label)
    return labels


def _run_plan(rules: Sequence[registry.Rule], *, full: bool, now: datetime.datetime) -> _RunPlan:
    watermark = inputs.watermark_take(_known_labels(rules))
    if full:
        return _RunPlan(watermark, None)
    stored = dict(
        RuleState.objects.filter(rule_code__in=[rule.code for rule in rules]).values_list(
            "rule_code", "inputs"
        )
    )
    since = [
        int(stored[rule.code]["audit_id"])
        for rule in rules
        if rule.code in stored
        and inputs.may_be_unchanged(rule, stored[rule.code], now=now, watermark=watermark)
    ]
    changes = inputs.audit_changes(min(since)) if since else None
    return _RunPlan(watermark, changes)


def run_rules(
    *,
    actor: Any,
    trigger: str = RunTrigger.MANUAL,
    rule_codes: Sequence[str] | None = None,
    now: datetime.datetime | None = None,
    full: bool = False,
) -> Run:
    """Run rules over the current data (all enabled rules unless `rule_codes` names some) and
    record their hits as findings. A rule that fails is recorded in the run and the others go
    on. Detection reads outside any transaction; each rule's hits are recorded in one short
    transaction that holds the rule's setting row, so two runs never record one rule at once.

    Incremental unless `full`: a rule whose inputs (`inputs`: the tables it reads, its
    parameters, its code, the day or moment it depends on) did not change since its last
    successful run is not run again; its findings of that run are recorded as seen again in one
    update, which is what running it would have recorded. A rule that failed runs in full next
    time."""
    if not is_system(actor) and not is_inspector(actor):
        raise PermissionDenied(
            _("Only a discipline inspector runs the supervision rules."),
            code=SupervisionErrorCode.NOT_INSPECTOR,
        )
    rules = _selected_rules(rule_codes)
    now = now or clock.now()
    run = Run.objects.create(
        trigger=trigger,
        started_by=_user_or_none(actor),
        started_at=now,
        rule_codes=[rule.code for rule in rules],
        is_full=full,
    )
    plan = _run_plan(rules, full=full, now=now)
    stats: dict[str, Any] = {}
    errors: list[str] = []
    for rule in rules:
        try:
            outcome = _run_rule(run, rule, now, plan)
        except Exception as error:  # one broken rule must not stop the others
            logger.exception("supervision rule %s failed", rule.code)
            errors.append(f"{rule.code}: {error}")
            stats[rule.code] = {"error": str(error)[:500]}
            _rule_state_forget(rule.code)
            continue
        stats[rule.code] = outcome.as_json()
    with transaction.atomic():
        run.status = RunStatus.FAILED if errors else RunStatus.FINISHED
        run.finished_at = clock.now()
        run.stats = stats
        run.error = "\n".join(errors)
        run.new_count = sum(item.get("new", 0) for item in stats.values())
        run.seen_again_count = sum(item.get("seen_again", 0) for item in stats.values())
        run.save()
        audit_record(
            actor=actor,
            action="supervision.run.finished",
            company_id=group_company_id(),
            target=run,
            changes={
                "trigger": [None, trigger],
                "rules": [None, run.rule_codes],
                "full": [None, full],
                "skipped": [None, run.skipped_rule_codes],
                "new": [None, run.new_count],
                "seen_again": [None, run.seen_again_count],
                "status": [None, run.status],
            },
        )
    return run


def _rule_state_forget(rule_code: str) -> None:
    """After a failure: no stored inputs, so the next run runs the rule in full."""
    try:
        RuleState.objects.filter(rule_code=rule_code).delete()
    except Exception:  # the database itself failing: the run records the rule's error anyway
        logger.exception("supervision rule %s: its stored inputs could not be cleared", rule_code)


def _run_rule(run: Run, rule: registry.Rule, now: datetime.datetime, plan: _RunPlan) -> RuleOutcome:
    started = time.perf_counter()
    with transaction.atomic():
        setting = _setting_locked(rule)
        version, stored = setting.version, dict(setting.parameters)
        parameters = {
            **rule.defaults(),
            **{k: v for k, v in stored.items() if k in rule.parameter_keys()},
        }
        current = inputs.rule_inputs(
            rule,
            parameter_version=version,
            parameters=parameters,
            now=now,
            watermark=plan.watermark,
        )
        state = RuleState.objects.filter(rule_code=rule.code).first()
        if state is not None and inputs.is_unchanged(state.inputs, current, plan.changes):
            since_run = state.run_id
            seen_again = _seen_again_as_before(run, rule.code, state, current, now)
            return RuleOutcome(
                rule_code=rule.code,
                parameter_version=version,
                hits=seen_again,
                new=0,
                seen_again=seen_again,
                seconds=time.perf_counter() - started,
                skipped_since=since_run,
            )
    context = registry.RuleContext(parameters=rule.values(parameters), now=now)
    hits = list(rule.detect(context))
    new, seen_again = _record_hits(run, rule, hits, version, parameters, now, current)
    return RuleOutcome(
        rule_code=rule.code,
        parameter_version=version,
        hits=len(hits),
        new=new,
        seen_again=seen_again,
        seconds=time.perf_counter() - started,
    )


def _seen_again_as_before(
    run: Run, rule_code: str, state: RuleState, current: dict[str, Any], now: datetime.datetime
) -> int:
    """A skipped rule: what it hit in its last run (the findings that run left it) is seen
    again, in one update; its stored inputs move on to this run's. Inside the transaction
    that holds the rule's setting row."""
    seen_again = Finding.objects.filter(rule_code=rule_code, last_run_id=state.run_id).update(
        last_seen_at=now, last_run=run, seen_count=F("seen_count") + 1
    )
    state.run = run
    state.inputs = current
    state.hits = seen_again
    state.updated_at = now
    state.save(update_fields=["run", "inputs", "hits", "updated_at"])
    return seen_again


def hit_fingerprint(rule: registry.Rule, hit: registry.Hit) -> str:
    return registry.fingerprint(rule.code, hit.subject_type, hit.subject_id, hit.key)


def _people_index(user_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    ids = list(dict.fromkeys(user_ids))
    index: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        for pk, name, number, source_id in User.objects.filter(pk__in=chunk).values_list(
            "pk", "name", "employee_number", "source_id"
        ):
            index[pk] = {"id": pk, "name": name, "employee_number": number}
            if source_id:  # imported staff: their number in the old system
                index[pk]["source_id"] = source_id
    return index


def _hit_links(hit: registry.Hit) -> Iterator[tuple[str, str]]:
    """What a hit names that may have come from an old system: its subject, its documents
    and its company (its people are looked up with their names)."""
    yield hit.subject_type, hit.subject_id
    for link in hit.documents:
        yield link.type, link.id
    yield sources.COMPANY, str(hit.company_id)


def hit_evidence(
    rule: registry.Rule,
    hit: registry.Hit,
    version: int,
    parameters: Mapping[str, Any],
    people: Mapping[int, dict[str, Any]],
    source_ids: sources.SourceIds | None = None,
) -> dict[str, Any]:
    """What a finding keeps: the figures, the documents, the people and the exact parameters;
    with `source_ids`, the old system's identifier of each imported record it names (subject,
    documents, company; people's come with `people`)."""
    found = source_ids or sources.SourceIds()
    subject = {"type": hit.subject_type, "id": hit.subject_id, "label": hit.subject_label}
    documents = []
    for document in hit.documents:
        data = document.as_json()
        source_id = data.get("source_id") or found.of(document.type, document.id)
        if source_id:
            data["source_id"] = source_id
        documents.append(data)
    company: dict[str, Any] = {"id": hit.company_id}
    for named, link_type, link_id in (
        (subject, hit.subject_type, hit.subject_id),
        (company, sources.COMPANY, hit.company_id),
    ):
        source_id = found.of(link_type, link_id)
        if source_id:
            named["source_id"] = source_id
    evidence = {
        "rule": {"code": rule.code, "number": rule.number},
        "parameter_version": version,
        "parameters": dict(parameters),
        "subject": subject,
        "company": company,
        "figures": hit.figures,
        "documents": documents,
        "people": [people.get(user_id, {"id": user_id}) for user_id in hit.people],
    }
    return dict(registry.jsonable(evidence))


def _unique_links(hit: registry.Hit) -> list[registry.DocumentLink]:
    return list({(link.type, link.id): link for link in hit.documents}.values())


@transaction.atomic
def _record_hits(
    run: Run,
    rule: registry.Rule,
    hits: list[registry.Hit],
    version: int,
    parameters: Mapping[str, Any],
    now: datetime.datetime,
    rule_inputs: dict[str, Any] | None = None,
) -> tuple[int, int]:
    """New findings for new fingerprints; "seen again" for known ones (an untriaged finding
    also takes the latest evidence; a triaged one keeps the evidence it was triaged on). With
    `rule_inputs`, they are stored as what this result was found from (`RuleState`)."""
    RuleSetting.objects.select_for_update().filter(rule_code=rule.code).first()
    unique: dict[str, registry.Hit] = {}
    for hit in hits:
        unique.setdefault(hit_fingerprint(rule, hit), hit)
    existing: dict[str, tuple[int, str]] = {}
    prints = list(unique)
    for chunk in _chunks(prints):
        existing.update(
            (fingerprint, (pk, status))
            for fingerprint, pk, status in Finding.objects.filter(
                fingerprint__in=chunk
            ).values_list("fingerprint", "pk", "status")
        )
    people = _people_index(user_id for hit in unique.values() for user_id in hit.people)
    source_ids = sources.source_ids(link for hit in unique.values() for link in _hit_links(hit))
    created: list[tuple[Finding, registry.Hit]] = []
    refreshed: list[tuple[Finding, registry.Hit]] = []
    seen_ids: list[int] = []
    for fingerprint, hit in unique.items():
        evidence = hit_evidence(rule, hit, version, parameters, people, source_ids)
        found = existing.get(fingerprint)
        if found is None:
            finding = Finding(
                rule_code=rule.code,
                fingerprint=fingerprint,
                area=rule.area,
                severity=hit.severity or rule.severity,
                company_id=hit.company_id,
                department_id=hit.department_id,
                subject_type=hit.subject_type,
                subject_id=hit.subject_id,
                subject_label=hit.subject_label[:200],
                evidence=evidence,
                parameter_version=version,
                occurred_at=hit.occurred_at,
                first_run=run,
                last_run=run,
                first_seen_at=now,
                last_seen_at=now,
            )
            created.append((finding, hit))
            continue
        pk, status = found
        seen_ids.append(pk)
        if status == FindingStatus.OPEN:
            refreshed.append(
                (
                    Finding(
                        pk=pk,
                        evidence=evidence,
                        subject_label=hit.subject_label[:200],
                        severity=hit.severity or rule.severity,
                        parameter_version=version,
                        occurred_at=hit.occurred_at,
                    ),
                    hit,
                )
            )
    Finding.objects.bulk_create([finding for finding, _hit in created], batch_size=500)
    if created and not connection.features.can_return_rows_from_bulk_insert:
        ids = dict(
            Finding.objects.filter(
                fingerprint__in=[finding.fingerprint for finding, _hit in created]
            ).values_list("fingerprint", "pk")
        )
        for finding, _hit in created:
            finding.pk = ids[finding.fingerprint]
    FindingDocument.objects.bulk_create(
        [
            FindingDocument(
                finding_id=finding.pk,
                document_type=link.type,
                document_id=link.id,
                label=link.label[:200],
            )
            for finding, hit in created
            for link in _unique_links(hit)
        ],
        batch_size=1000,
    )
    for chunk in _chunks(seen_ids):
        Finding.objects.filter(pk__in=chunk).update(
            last_seen_at=now, last_run=run, seen_count=F("seen_count") + 1
        )
    if refreshed:
        Finding.objects.bulk_update(
            [finding for finding, _hit in refreshed],
            ["evidence", "subject_label", "severity", "parameter_version", "occurred_at"],
            batch_size=500,
        )
        FindingDocument.objects.bulk_create(
            [
                FindingDocument(
                    finding_id=finding.pk,
                    document_type=link.type,
                    document_id=link.id,
                    label=link.label[:200],
                )
                for finding, hit in refreshed
                for link in _unique_links(hit)
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
    if rule_inputs is not None:
        RuleState.objects.update_or_create(
            rule_code=rule.code,
            defaults={"run": run, "inputs": rule_inputs, "hits": len(unique), "updated_at": now},
        )
    return len(created), len(seen_ids)


# ---------------------------------------------------------------- triage


def _lock_finding(actor: Any, finding_id: int) -> Finding:
    finding = (
        Finding.objects.select_for_update(of=("self",))
        .filter(pk=finding_id, company_id__in=oversight_company_ids(actor))
        .first()
    )
    if finding is None:
        raise NotFound(_("Finding not found."))
    _require_inspector(actor, finding.company_id)
    return finding


def _check_finding_status(finding: Finding, *allowed: str) -> None:
    if finding.status not in allowed:
        raise Conflict(
            _("Not possible while the finding is “%(status)s”.")
            % {"status": FindingStatus(finding.status).label},
            code=SupervisionErrorCode.WRONG_STATUS,
        )


def _finding_audit(finding: Finding, actor: Any, verb: str, **changes: Any) -> None:
    audit_record(
        actor=actor,
        action=f"supervision.finding.{verb}",
        company_id=finding.company_id,
        target=finding,
        changes={key: value for key, value in changes.items()},
    )


def _save_finding(finding: Finding, fields: list[str]) -> None:
    finding.lock_version += 1
    finding.save(update_fields=[*fields, "lock_version"])


@transaction.atomic
def finding_dismiss(*, actor: Any, finding_id: int, reason: str) -> Finding:
    """Dismiss with a reason. A high-severity finding needs a second inspector: the first one's
    dismissal waits for `finding_dismissal_confirm` by someone else."""
    finding = _lock_finding(actor, finding_id)
    _check_finding_status(finding, FindingStatus.OPEN)
    reason = _required_text(reason, "reason")
    now = clock.now()
    finding.dismissal_reason = reason
    if finding.severity == Severity.HIGH:
        finding.status = FindingStatus.DISMISSAL_REQUESTED
        finding.dismissal_requested_by = actor
        finding.dismissal_requested_at = now
        _save_finding(
            finding,
            ["status", "dismissal_reason", "dismissal_requested_by", "dismissal_requested_at"],
        )
        _finding_audit(
            finding,
            actor,
            "dismissal_requested",
            status=[FindingStatus.OPEN, finding.status],
            reason=[None, reason],
        )
        return finding
    finding.status = FindingStatus.DISMISSED
    finding.dismissed_by = actor
    finding.dismissed_at = now
    _save_finding(finding, ["status", "dismissal_reason", "dismissed_by", "dismissed_at"])
    _finding_audit(
        finding,
        actor,
        "dismissed",
        status=[FindingStatus.OPEN, finding.status],
        reason=[None, reason],
    )
    return finding


@transaction.atomic
def finding_dismissal_confirm(*, actor: Any, finding_id: int, comment: str = "") -> Finding:
    """The second inspector (four eyes) agrees: the high-severity finding is dismissed."""
    finding = _lock_finding(actor, finding_id)
    _check_finding_status(finding, FindingStatus.DISMISSAL_REQUESTED)
    if finding.dismissal_requested_by_id == actor.pk:
        raise PermissionDenied(
            _("A second inspector must confirm this dismissal: not the one who proposed it."),
            code=SupervisionErrorCode.FOUR_EYES,
        )
    finding.status = FindingStatus.DISMISSED
    finding.dismissed_by = actor
    finding.dismissed_at = clock.now()
    _save_finding(finding, ["status", "dismissed_by", "dismissed_at"])
    _finding_audit(
        finding,
        actor,
        "dismissed",
        status=[FindingStatus.DISMISSAL_REQUESTED, finding.status],
        proposed_by=[None, finding.dismissal_requested_by_id],
        comment=[None, comment.strip()[:MAX_TEXT] or None],
    )
    return finding


@transaction.atomic
def finding_dismissal_decline(*, actor: Any, finding_id: int, comment: str) -> Finding:
    """The second inspector disagrees (or the first withdraws): the finding is open again."""
    finding = _lock_finding(actor, finding_id)
    _check_finding_status(finding, FindingStatus.DISMISSAL_REQUESTED)
    comment = _required_text(comment, "comment")
    proposed_by = finding.dismissal_requested_by_id
    finding.status = FindingStatus.OPEN
    finding.dismissal_reason = ""
    finding.dismissal_requested_by = None
    finding.dismissal_requested_at = None
    _save_finding(
        finding,
        ["status", "dismissal_reason", "dismissal_requested_by", "dismissal_requested_at"],
    )
    _finding_audit(
        finding,
        actor,
        "dismissal_declined",
        status=[FindingStatus.DISMISSAL_REQUESTED, finding.status],
        proposed_by=[proposed_by, None],
        comment=[None, comment],
    )
    return finding


# ---------------------------------------------------------------- cases


def _case_event(case: Case, kind: str, actor: Any, comment: str = "", **data: Any) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case,
        kind=kind,
        actor=_user_or_none(actor),
        comment=comment,
        data=registry.jsonable(data),
        created_at=clock.now(),
    )


def _case_audit(case: Case, actor: Any, verb: str, **changes: Any) -> None:
    audit_record(
        actor=actor,
        action=f"supervision.case.{verb}",
        company_id=case.company_id,
        target=case,
        changes=registry.jsonable(changes),
    )


def unit_responsible_ids(case: Case) -> list[int]:
    """Who answers for a case: its person, its department's head, its company's leaders."""
    ids: list[int] = []
    if case.assignee_id:
        ids.append(case.assignee_id)
    if case.department_id:
        head = Department.objects.filter(pk=case.department_id).values_list("head_id", flat=True)
        ids += [pk for pk in head if pk]
    ids += list(
        User.objects.filter(
            is_active=True,
            role_assignments__role__code__in=list(UNIT_LEADER_ROLES),
            role_assignments__company_id=case.company_id,
        ).values_list("pk", flat=True)
    )
    return list(dict.fromkeys(ids))


@transaction.atomic
def case_open(
    *,
    actor: Any,
    finding_id: int,
    company_id: int,
    deadline: datetime.date,
    instructions: str,
    department_id: int | None = None,
    assignee_id: int | None = None,
) -> Case:
    """Turn a finding into a case: a responsible company (and department or person) must
    rectify by the deadline."""
    finding = _lock_finding(actor, finding_id)
    _check_finding_status(finding, FindingStatus.OPEN)
    instructions = _required_text(instructions, "instructions")
    problems: dict[str, list[str]] = {}
    if company_id not in inspector_company_ids(actor):
        problems["company"] = [_("Not a company in your scope.")]
    if (
        department_id is not None
        and not Department.objects.filter(
            pk=department_id, company_id=company_id, is_active=True
        ).exists()
    ):
        problems["department"] = [_("Not a department of the responsible company.")]
    if (
        assignee_id is not None
        and not User.objects.filter(pk=assignee_id, company_id=company_id, is_active=True).exists()
    ):
        problems["assignee"] = [_("Not an active employee of the responsible company.")]
    if deadline < clock.today():
        problems["deadline"] = [_("The deadline cannot be in the past.")]
    if problems:
        raise ValidationFailed(_("Please correct the highlighted fields."), fields=problems)
    now = clock.now()
    case = Case.objects.create(
        serial=f"ZG{clock.today():%Y%m%d}-{finding.pk}",
        finding=finding,
        company_id=company_id,
        department_id=department_id,
        assignee_id=assignee_id,
        instructions=instructions,
        deadline=deadline,
        opened_by=actor,
        opened_at=now,
    )
    finding.status = FindingStatus.IN_CASE
    _save_finding(finding, ["status"])
    _case_event(case, CaseEventKind.OPENED, actor, instructions, deadline=deadline)
    _case_audit(
        case,
        actor,
        "opened",
        finding=[None, finding.pk],
        rule=[None, finding.rule_code],
        company=[None, company_id],
        department=[None, department_id],
        assignee=[None, assignee_id],
        deadline=[None, deadline],
    )
    _finding_audit(finding, actor, "case_opened", status=[FindingStatus.OPEN, finding.status])
    _mail_on_commit(
        unit_responsible_ids(case),
        _("Rectification required: %(serial)s") % {"serial": case.serial},
        _("%(instructions)s\n\nDeadline: %(deadline)s")
        % {"instructions": instructions, "deadline": deadline.isoformat()},
    )
    return case


def _lock_case(actor: Any, case_id: int) -> Case:
    visible = case_visible(user=actor).filter(pk=case_id).values_list("pk", flat=True)
    if not visible.exists():
        raise NotFound(_("Case not found."))
    return (
        Case.objects.select_for_update(of=("self",))
        .select_related("department", "finding")
        .get(pk=case_id)
    )


def _check_case_status(case: Case, *allowed: str) -> None:
    if case.status not in allowed:
        raise Conflict(
            _("Not possible while the case is “%(status)s”.")
            % {"status": CaseStatus(case.status).label},
            code=SupervisionErrorCode.WRONG_STATUS,
        )


def _store_attachment(
    rectification: Rectification, upload: UploadedFile, actor: Any, now: datetime.datetime
) -> RectificationAttachment:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    attachment = RectificationAttachment(
        rectification=rectification,
        name=(upload.name or "attachment")[:200],
        size=upload.size or 0,
        content_type=(upload.content_type or "")[:100],
        sha256=digest.hexdigest(),
        uploaded_by=actor,
        uploaded_at=now,
    )
    attachment.file.save(upload.name or "attachment", upload, save=False)
    attachment.save()
    return attachment


@transaction.atomic
def case_rectification_submit(
    *, actor: Any, case_id: int, text: str, files: Sequence[UploadedFile] = ()
) -> Rectification:
    """The responsible unit reports what it did, with evidence; the case awaits verification."""
    case = _lock_case(actor, case_id)
    if not is_case_responsible(actor, case):
        raise PermissionDenied(_("Only the responsible unit submits the rectification."))
    _check_case_status(case, CaseStatus.RECTIFYING)
    text = _required_text(text, "text")
    if len(files) > MAX_ATTACHMENTS:
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            fields={"attachments": [_("At most %(n)d files.") % {"n": MAX_ATTACHMENTS}]},
        )
    too_large = [upload.name or "" for upload in files if (upload.size or 0) > MAX_ATTACHMENT_BYTES]
    if too_large:
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            fields={
                "attachments": [
                    _("%(name)s is larger than %(limit)d MB.")
                    % {"name": name, "limit": MAX_ATTACHMENT_BYTES // (1024 * 1024)}
                    for name in too_large
                ]
            },
        )
    now = clock.now()
    rectification = Rectification.objects.create(
        case=case,
        round=case.rectifications.count() + 1,
        text=text,
        submitted_by=actor,
        submitted_at=now,
    )
    stored = [_store_attachment(rectification, upload, actor, now) for upload in files]
    case.status = CaseStatus.VERIFYING
    case.lock_version += 1
    case.save(update_fields=["status", "lock_version"])
    _case_event(
        case,
        CaseEventKind.RECTIFICATION_SUBMITTED,
        actor,
        text,
        round=rectification.round,
        attachments=[item.sha256 for item in stored],
    )
    _case_audit(
        case,
        actor,
        "rectification_submitted",
        status=[CaseStatus.RECTIFYING, case.status],
        round=[None, rectification.round],
        attachments=[None, [f"{item.name} sha256:{item.sha256}" for item in stored]],
    )
    _mail_on_commit(
        [case.opened_by_id],
        _("Rectification submitted: %(serial)s") % {"serial": case.serial},
        text,
    )
    return rectification


@transaction.atomic
def case_verify(
    *,
    actor: Any,
    case_id: int,
    is_accepted: bool,
    comment: str = "",
    new_deadline: datetime.date | None = None,
) -> Case:
    """An inspector verifies the latest rectification: accepted closes the case (and its
    finding); rejected sends it back to the unit, with a comment and maybe a new deadline."""
    case = _lock_case(actor, case_id)
    _require_inspector(actor, case.finding.company_id)
    _check_case_status(case, CaseStatus.VERIFYING)
    latest = case.rectifications.select_for_update().order_by("-round").first()
    assert latest is not None  # verifying means a rectification was submitted
    if latest.submitted_by_id == actor.pk:
        raise PermissionDenied(
            _("Whoever submitted the rectification cannot verify it."),
            code=SupervisionErrorCode.FOUR_EYES,
        )
    if not is_accepted:
        comment = _required_text(comment, "comment")
    if new_deadline is not None and new_deadline < clock.today():
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            fields={"new_deadline": [_("The deadline cannot be in the past.")]},
        )
    now = clock.now()
    latest.is_accepted = is_accepted
    latest.verified_by = actor
    latest.verified_at = now
    latest.verification_comment = comment.strip()
    latest.save(update_fields=["is_accepted", "verified_by", "verified_at", "verification_comment"])
    finding = case.finding
    if is_accepted:
        case.status = CaseStatus.CLOSED
        case.closed_by = actor
        case.closed_at = now
        case.lock_version += 1
        case.save(update_fields=["status", "closed_by", "closed_at", "lock_version"])
        finding = Finding.objects.select_for_update().get(pk=case.finding_id)
        finding.status = FindingStatus.CLOSED
        _save_finding(finding, ["status"])
        _case_event(case, CaseEventKind.ACCEPTED, actor, comment.strip(), round=latest.round)
        _case_audit(
            case,
            actor,
            "closed",
            status=[CaseStatus.VERIFYING, case.status],
            round=[None, latest.round],
            comment=[None, comment.strip() or None],
        )
        _finding_audit(finding, actor, "closed", status=[FindingStatus.IN_CASE, finding.status])
        return case
    deadline_before = case.deadline
    case.status = CaseStatus.RECTIFYING
    if new_deadline is not None:
        case.deadline = new_deadline
    case.lock_version += 1
    case.save(update_fields=["status", "deadline", "lock_version"])
    _case_event(
        case,
        CaseEventKind.REJECTED,
        actor,
        comment,
        round=latest.round,
        deadline=case.deadline,
    )
    _case_audit(
        case,
        actor,
        "rectification_rejected",
        status=[CaseStatus.VERIFYING, case.status],
        round=[None, latest.round],
        comment=[None, comment],
        deadline=[deadline_before, case.deadline],
    )
    _mail_on_commit(
        unit_responsible_ids(case),
        _("Rectification not accepted: %(serial)s") % {"serial": case.serial},
        comment,
    )
    return case


def _overdue_case_ids(now: datetime.datetime) -> list[int]:
    return list(
        Case.objects.filter(status=CaseStatus.RECTIFYING, deadline__lt=clock.today())
        .filter(Q(escalated_at__isnull=True) | Q(escalated_at__lte=now - ESCALATE_AGAIN_AFTER))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _escalation_recipients(case: Case) -> list[int]:
    """The unit's leaders and the inspector who opened the case; from the second escalation
    on, also the leaders of the company above."""
    ids = [*unit_responsible_ids(case), case.opened_by_id]
    if case.escalation_level >= 2:
        parent_id = case.company.parent_id
        if parent_id is not None:
            ids += list(
                User.objects.filter(
                    is_active=True,
                    role_assignments__role__code__in=list(UNIT_LEADER_ROLES),
                    role_assignments__company_id=parent_id,
                ).values_list("pk", flat=True)
            )
    return list(dict.fromkeys(ids))


@transaction.atomic
def _case_escalate(case_id: int, now: datetime.datetime) -> bool:
    case = (
        Case.objects.select_for_update(of=("self",))
        .select_related("company")
        .filter(pk=case_id)
        .first()
    )
    if case is None or case.status != CaseStatus.RECTIFYING or case.deadline >= clock.today():
        return False
    if case.escalated_at is not None and case.escalated_at > now - ESCALATE_AGAIN_AFTER:
        return False  # a concurrent run escalated it already
    days_overdue = (clock.today() - case.deadline).days
    case.escalation_level += 1
    case.escalated_at = now
    case.lock_version += 1
    case.save(update_fields=["escalation_level", "escalated_at", "lock_version"])
    _case_event(
        case,
        CaseEventKind.ESCALATED,
        SYSTEM_ACTOR,
        level=case.escalation_level,
        days_overdue=days_overdue,
    )
    _case_audit(
        case,
        SYSTEM_ACTOR,
        "escalated",
        escalation_level=[case.escalation_level - 1, case.escalation_level],
        days_overdue=[None, days_overdue],
    )
    _mail_on_commit(
        _escalation_recipients(case),
        _("Rectification overdue: %(serial)s") % {"serial": case.serial},
        _("The rectification of case %(serial)s was due on %(deadline)s (%(days)d days ago).")
        % {"serial": case.serial, "deadline": case.deadline.isoformat(), "days": days_overdue},
    )
    return True


def case_escalate_overdue(*, now: datetime.datetime | None = None) -> int:
    """Escalate every case whose rectification is past its deadline: once, then again every
    week while it stays overdue. One transaction per case, so a retried job goes on where a
    failed one stopped. Returns how many were escalated."""
    now = now or clock.now()
    return sum(1 for case_id in _overdue_case_ids(now) if _case_escalate(case_id, now))
