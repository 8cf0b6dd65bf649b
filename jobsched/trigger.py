"""`jobsched trigger NAMESPACE/CONFIGMAP/ENTRY` (or `NAMESPACE/CronJob/NAME` for an adopted CronJob):
run a cron entry once, now, like `kubectl create job --from=cronjob/NAME`.

It reads the entry the way the engine does (the ConfigMap, parsed by `cronspec`), holds it to the same
rules (the namespace opted in, the ConfigMap carries the cron label, the entry is valid, its service
accounts exist in its namespace) and creates the object its slot would create, marked manual
(`core.manualrun`), with the caller's own credentials. The name is drawn once per invocation and every
retry POSTs that same name, so a reply lost on the way back cannot make a second run: the retry gets
AlreadyExists, and that means done.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

import anyio

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronjobspec import parse_cronjob
from jobsched.core.cronspec import parse_configmap
from jobsched.core.manualrun import build_manual_object
from jobsched.core.outcomes import CreateOutcome
from jobsched.core.podbuild import service_account_refs
from jobsched.kube import optin, paths, pods
from jobsched.kube.client import ApiError, KubeClient
from jobsched.kube.serviceaccounts import Found, ServiceAccountCache
from jobsched.settings import Settings

CREATE_ATTEMPTS = 6


class TriggerError(Exception):
    """Why the entry was not run; the message names the object and field."""


@dataclass(frozen=True)
class Target:
    namespace: str
    configmap: str
    entry: str

    @classmethod
    def parse(cls, text: str) -> Target:
        parts = text.split("/")
        if len(parts) != 3 or not all(parts):
            raise TriggerError(f"expected NAMESPACE/CONFIGMAP/ENTRY or NAMESPACE/CronJob/NAME, got {text!r}")
        return cls(*parts)

    @property
    def cronjob(self) -> bool:
        """An adopted CronJob (no ConfigMap is called "CronJob": their names are lowercase)."""
        return self.configmap == "CronJob"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.configmap}/{self.entry}"


@dataclass(frozen=True)
class Triggered:
    kind: str
    name: str
    namespace: str
    again: bool  # an earlier POST of this invocation had created it (its reply was lost)


async def _entry(client: KubeClient, target: Target, settings: Settings) -> CronEntry:
    """The valid entry `target` names, or TriggerError saying why there is none to run."""
    label = settings.cron.namespace_label
    enabled = await optin.opted_in(client, target.namespace, label)
    if enabled is None:
        raise TriggerError(
            f"cannot read namespace {target.namespace} to check that it opted in (label {label});"
            " jobsched runs entries only in namespaces that did"
        )
    if target.namespace not in enabled:
        raise TriggerError(
            f"namespace {target.namespace} has not opted in to jobsched (label {label}); run"
            f" `jobsched enable {target.namespace}` first"
        )
    if target.cronjob:
        return await _cronjob_entry(client, target, settings)
    path = paths.configmap(target.namespace, target.configmap)
    resp = await client.request_retrying("GET", path)
    if resp.status == 404:
        raise TriggerError(f"ConfigMap {target.namespace}/{target.configmap} not found")
    if not resp.ok:
        raise ApiError("GET", path, resp)
    configmap = resp.json()
    key, value = settings.cron.configmap_label_key, settings.cron.configmap_label_value
    if ((configmap.get("metadata") or {}).get("labels") or {}).get(key) != value:
        raise TriggerError(
            f"ConfigMap {target.namespace}/{target.configmap} is not a cron ConfigMap (label"
            f" {settings.cron.configmap_label})"
        )
    entries, problems = parse_configmap(configmap, settings.scheduler_name)
    found = next((e for e in entries if e.name == target.entry), None)
    if found is not None:
        return found
    own = [p for p in problems if p.entry == target.entry]
    if own:
        details = "; ".join(f"field {p.field}: {p.message}" for p in own)
        raise TriggerError(f"entry {target} is invalid, so it does not run: {details}")
    names = f"valid entries: {', '.join(e.name for e in entries)}" if entries else "no valid entries"
    raise TriggerError(
        f"ConfigMap {target.namespace}/{target.configmap} has no entry {target.entry!r} ({names})"
    )


async def _cronjob_entry(client: KubeClient, target: Target, settings: Settings) -> CronEntry:
    """The entry of an adopted CronJob (carrying cron.cronJobLabel), read as the engine reads it."""
    path = paths.cronjob(target.namespace, target.entry)
    resp = await client.request_retrying("GET", path)
    if resp.status == 404:
        raise TriggerError(f"CronJob {target.namespace}/{target.entry} not found")
    if not resp.ok:
        raise ApiError("GET", path, resp)
    cronjob = resp.json()
    key, _, value = settings.cron.cronjob_label.partition("=")
    if ((cronjob.get("metadata") or {}).get("labels") or {}).get(key) != value:
        raise TriggerError(
            f"CronJob {target.namespace}/{target.entry} is not adopted by jobsched (label"
            f" {settings.cron.cronjob_label}); `kubectl create job --from=cronjob/{target.entry}` runs it"
        )
    entry, problems = parse_cronjob(cronjob, settings.scheduler_name, settings.cron.cronjob_time_zone)
    if entry is None:
        details = "; ".join(f"field {p.field}: {p.message}" for p in problems)
        raise TriggerError(
            f"CronJob {target.namespace}/{target.entry} stays with the native controller: {details}"
        )
    return entry


async def _check_accounts(client: KubeClient, entry: CronEntry) -> None:
    """The trust model's check, as the stager makes it: the accounts the template names exist here."""
    accounts = ServiceAccountCache(client)
    for field, account in service_account_refs(entry):
        answer = await accounts.lookup(entry.namespace, account)
        if answer.found is not Found.EXISTS:
            raise TriggerError(
                f"entry {entry.key}: field template.{field.removeprefix('template.')}: service account"
                f" {account!r} cannot be used in namespace {entry.namespace} ({answer.found.value}:"
                f" {answer.message}); a cron pod may only run as an existing service account of its namespace"
            )


async def trigger(
    client: KubeClient, target: Target, settings: Settings, now: datetime, nonce: str
) -> Triggered:
    """Creates the manual run of `target`, once. Raises TriggerError, ApiError or TransportError."""
    entry = await _entry(client, target, settings)
    await _check_accounts(client, entry)
    body = build_manual_object(entry, now, settings.scheduler_name, nonce)
    name = body["metadata"]["name"]
    result = await pods.create(client, body, attempts=CREATE_ATTEMPTS)
    if result.outcome in (CreateOutcome.CREATED, CreateOutcome.EXISTS):
        return Triggered(entry.kind, name, entry.namespace, result.outcome is CreateOutcome.EXISTS)
    if result.outcome is CreateOutcome.RETRY:
        raise TriggerError(
            f"could not create {entry.kind} {entry.namespace}/{name} after {CREATE_ATTEMPTS} attempts"
            f" ({result.message or f'HTTP {result.status}'}); it may exist: kubectl get"
            f" {entry.kind.lower()} -n {entry.namespace} {name}"
        )
    raise TriggerError(
        f"the apiserver refused the {entry.kind} for entry {target} (HTTP {result.status}): {result.message}"
    )


async def _run(kubeconfig: str | None, context: str | None, target: Target, settings: Settings) -> Triggered:
    async with KubeClient.connect(kubeconfig, connections=2, context=context) as client:
        return await trigger(client, target, settings, datetime.now(UTC), uuid.uuid4().hex)


def trigger_main(
    text: str, settings: Settings, kubeconfig: str | None, context: str | None, out: TextIO = sys.stdout
) -> int:
    """`jobsched trigger`: 0 when the run was created, 1 (with the reason on stderr) when not."""
    try:
        target = Target.parse(text)
        done = anyio.run(_run, kubeconfig, context, target, settings)
    except TriggerError as err:
        print(f"jobsched trigger: {err}", file=sys.stderr)
        return 1
    resource = "pod" if done.kind == "Pod" else "job.batch"
    print(
        f"{resource}/{done.name} created (a manual run of {target}) in namespace {done.namespace}", file=out
    )
    return 0
